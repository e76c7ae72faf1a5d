/*
 * cred.c - act in the shm directory as the caller.
 *
 * The kernel checks each request against the attributes shmfs reported
 * (default_permissions), but a name may change between the kernel's check
 * and the daemon's syscall: a create that finds the name taken, an unlink or
 * rename whose target was replaced in /dev/shm meanwhile.  Done as root,
 * such a call would skip the sticky-bit and write-permission rules of the
 * real directory.  So create, unlink and rename run under the caller's
 * filesystem uid and gid (and groups), and the kernel applies those rules
 * to the real directory atomically.
 *
 * setfsuid/setfsgid/setgroups are per-thread in the kernel; they are called
 * as raw syscalls because glibc's setgroups() would change every thread of
 * the daemon.  The caller's supplementary groups are always taken on, even
 * though reading them costs a read of /proc: running without them is not
 * merely "less access", since mode bits can give the group class less than
 * everyone else (0604), and a refusal would then turn into a success.
 */
#include "shmfs.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_GROUPS 256

static bool enabled; /* only root can take on other credentials */

int cred_init(void)
{
    enabled = geteuid() == 0;
    return 0;
}

static int set_groups(size_t n, const gid_t *groups)
{
    return syscall(SYS_setgroups, n, groups) < 0 ? -errno : 0;
}

int cred_run(fuse_req_t req, int (*op)(void *), void *arg)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    /* A caller with fs uid and gid 0 has the daemon's credentials already
     * (a root caller with another gid must still create files with it). */
    if (!enabled || (ctx->uid == 0 && ctx->gid == 0))
        return op(arg);
    gid_t groups[MAX_GROUPS];
    int n = fuse_req_getgroups(req, MAX_GROUPS, groups);
    /* Unknown groups (the caller is being killed, or has more than we can
     * hold): refuse rather than guess. */
    if (n < 0 || n > MAX_GROUPS)
        return -EACCES;
    int err = set_groups((size_t)n, groups);
    if (err < 0)
        return err;
    /* gid first: once the fs uid is not 0 the thread could not change it. */
    syscall(SYS_setfsgid, ctx->gid);
    syscall(SYS_setfsuid, ctx->uid);
    err = -EPERM;
    if ((uid_t)syscall(SYS_setfsuid, -1) == ctx->uid &&
        (gid_t)syscall(SYS_setfsgid, -1) == ctx->gid)
        err = op(arg);
    syscall(SYS_setfsuid, 0);
    syscall(SYS_setfsgid, 0);
    set_groups(0, NULL);
    return err;
}
