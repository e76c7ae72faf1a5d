/*
 * cred.c - act in the shm directory as the caller.
 *
 * The kernel checks each request against the attributes shmfs reported
 * (default_permissions), but a name may change between the kernel's check
 * and the daemon's syscall: a create that finds the name taken, an unlink or
 * rename whose target was replaced in /dev/shm meanwhile.  Done as root,
 * such a call would skip the sticky-bit and write-permission rules of the
 * real directory.  So create, unlink and rename run under the caller's
 * filesystem uid, gid and groups, and the kernel applies those rules to the
 * real directory atomically.  setfsuid/setfsgid/setgroups are per-thread in
 * the kernel; they are called as raw syscalls because glibc's setgroups()
 * would change every thread of the daemon.
 */
#include "shmfs.h"

#include <errno.h>
#include <grp.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_GROUPS 256

static bool enabled;         /* only root can take on other credentials */
static int own_ngroups;
static gid_t own_groups[MAX_GROUPS];

int cred_init(void)
{
    enabled = geteuid() == 0;
    if (!enabled)
        return 0;
    own_ngroups = getgroups(MAX_GROUPS, own_groups);
    return own_ngroups < 0 ? -errno : 0;
}

int cred_enter(fuse_req_t req)
{
    if (!enabled)
        return 0;
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    gid_t groups[MAX_GROUPS];
    int n = fuse_req_getgroups(req, MAX_GROUPS, groups);
    if (n < 0 || n > MAX_GROUPS)
        n = 0; /* the caller is gone, or too many: its primary group only */
    if (syscall(SYS_setgroups, (size_t)n, groups) < 0)
        return -errno;
    /* gid first: with the uid no longer 0 the thread could not change it. */
    syscall(SYS_setfsgid, ctx->gid);
    syscall(SYS_setfsuid, ctx->uid);
    if ((uid_t)syscall(SYS_setfsuid, -1) != ctx->uid ||
        (gid_t)syscall(SYS_setfsgid, -1) != ctx->gid) {
        cred_leave();
        return -EPERM;
    }
    return 0;
}

void cred_leave(void)
{
    if (!enabled)
        return;
    syscall(SYS_setfsuid, 0);
    syscall(SYS_setfsgid, 0);
    syscall(SYS_setgroups, (size_t)own_ngroups, own_groups);
}
