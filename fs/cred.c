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
 *
 * It also checks permissions itself where the kernel does not.  With
 * default_permissions the kernel checks every access against the
 * attributes shmfs reported, but it must fetch a directory's attributes
 * again after every create or unlink in it: one more request per create,
 * and two requests instead of one per unlink.  A mount without allow_other
 * admits only processes whose uids and gids are all the mounter's, and
 * when that is root, shmfs mounts without default_permissions and applies
 * the kernel's rules (generic_permission(), setattr_prepare()) itself, to
 * fresh attributes, with the caller's fs uid and gid, groups and
 * capabilities: a root process that dropped CAP_DAC_OVERRIDE gets through
 * the mount what it gets in the shm directory (shmfs(8), PERMISSIONS, lists
 * the few differences).  shmfs.own_checks says which; ops.c calls
 * perm_check(), perm_access() and perm_setattr() only then.
 */
#include "shmfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_GROUPS 256

static bool enabled; /* only root can take on other credentials */
/* Which user namespace: "user:[INODE]", the /proc/PID/ns/user link (a
 * readlink costs half what a stat of it does). */
#define NS_LEN 64
static char own_userns[NS_LEN];

static bool userns_of(pid_t pid, char *ns)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
    ssize_t len = readlink(path, ns, NS_LEN - 1);
    if (len < 0)
        return false;
    ns[len] = '\0';
    return true;
}

/* /proc is this pid namespace's: a request's pid names its caller there. */
static bool proc_ok;
/* The daemon's capabilities (the same on every thread; cred_run() lowers
 * a thread's effective set only for one operation). */
static struct __user_cap_data_struct daemon_caps[_LINUX_CAPABILITY_U32S_3];

int cred_init(void)
{
    enabled = geteuid() == 0;
    char self[32];
    ssize_t len = readlink("/proc/self", self, sizeof(self) - 1);
    if (len > 0) {
        self[len] = '\0';
        proc_ok = strtol(self, NULL, 10) == (long)getpid() &&
                  userns_of(getpid(), own_userns);
    }
    if (!proc_ok)
        shmfs_log("/proc is not this process's pid namespace's (or cannot "
                  "be read): callers count as having no capabilities and "
                  "unknown groups");
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    return syscall(SYS_capget, &h, daemon_caps) < 0 ? -errno : 0;
}

static int set_groups(size_t n, const gid_t *groups)
{
    return syscall(SYS_setgroups, n, groups) < 0 ? -errno : 0;
}

/* --- permission checks (own_checks) --------------------------------------- */

/* The caller of a request, as far as a check needed to look. */
struct caller {
    fuse_req_t req;
    uid_t uid; /* fs uid and gid */
    gid_t gid;
    bool permitted; /* judge by the permitted capabilities (access(2)) */
    bool read;      /* the fields below are filled (caller_read()) */
    bool caps_ns;   /* caps checked to be in the daemon's user namespace */
    pid_t pid;
    uint64_t caps;  /* what /proc shows; see caller_caps() */
    int ngroups;    /* -1: unknown */
    gid_t groups[MAX_GROUPS];
};

static void caller_init(struct caller *c, fuse_req_t req)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    c->req = req;
    c->uid = ctx->uid;
    c->gid = ctx->gid;
    c->permitted = c->read = false;
}

/* All of /proc/@pid/@what into @buf (NUL-terminated); false if it cannot
 * be read, or does not fit (a cut-off line must never be parsed). */
static bool read_proc(pid_t pid, const char *what, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, buf + len, cap - 1 - len)) > 0 ||
           (n < 0 && errno == EINTR))
        if (n > 0 && (len += (size_t)n) == cap - 1)
            break;
    close(fd);
    if (n != 0 || len == 0) /* an error, or a full buffer */
        return false;
    buf[len] = '\0';
    return true;
}

/* "Uid:" or "Gid:" (@key) and four ids: the real (@real) and the fs one
 * (@fs). */
static bool parse_ids(const char *line, const char *key, unsigned *real,
                      unsigned *fs)
{
    size_t klen = strlen(key);
    int end = -1;
    return strncmp(line, key, klen) == 0 &&
           sscanf(line + klen, "\t%u\t%*u\t%*u\t%u%n", real, fs, &end) == 2 &&
           (size_t)end == strlen(line + klen);
}

/* "CapPrm:" or "CapEff:" and exactly 16 hex digits. */
static bool parse_caps(const char *line, const char *key,
                       unsigned long long *caps)
{
    size_t klen = strlen(key);
    if (strncmp(line, key, klen) != 0 || line[klen] != '\t')
        return false;
    const char *hex = line + klen + 1;
    if (strlen(hex) != 16 || strspn(hex, "0123456789abcdef") != 16)
        return false;
    *caps = strtoull(hex, NULL, 16);
    return true;
}

/* "Groups:" and up to MAX_GROUPS ids into @c (more: unknown). */
static bool parse_groups(const char *line, struct caller *c)
{
    if (strncmp(line, "Groups:", 7) != 0)
        return false;
    int n = 0;
    for (const char *p = line + 7; *p;) {
        p += strspn(p, " \t");
        if (!*p)
            break;
        char *end;
        unsigned long g = strtoul(p, &end, 10);
        if (end == p || n == MAX_GROUPS) {
            n = -1;
            break;
        }
        c->groups[n++] = (gid_t)g;
        p = end;
    }
    c->ngroups = n;
    return true;
}

#define K_PF_IO_WORKER 0x00000010 /* include/linux/sched.h */
#define K_PF_KTHREAD 0x00200000

/*
 * The request carries the ids the calling thread acts with, but /proc
 * shows the thread's own credentials.  They differ
 * when a kernel service acts for someone else on that thread: nfsd or
 * ksmbd (kernel threads) for a client, io_uring's worker threads for the
 * task that submitted, access(2) for the caller's real ids.  Such a
 * caller is taken to have no capabilities and unknown groups (so checks
 * that need them refuse), as is one the daemon cannot see (pid 0), and
 * capabilities count only in the daemon's user namespace.
 */
static void caller_read(struct caller *c)
{
    if (c->read)
        return;
    c->read = true;
    c->caps_ns = false;
    c->caps = 0;
    c->ngroups = -1;
    pid_t pid = c->pid = fuse_req_ctx(c->req)->pid;
    char buf[16384];
    unsigned flags = 0;
    const char *end;
    if (!proc_ok || pid <= 0 || !read_proc(pid, "stat", buf, sizeof(buf)) ||
        !(end = strrchr(buf, ')')) ||
        sscanf(end + 1, " %*c %*d %*d %*d %*d %*d %u", &flags) != 1 ||
        (flags & (K_PF_IO_WORKER | K_PF_KTHREAD)) ||
        !read_proc(pid, "status", buf, sizeof(buf)))
        return;
    unsigned ruid = 0, fsuid = 0, rgid = 0, fsgid = 0;
    unsigned long long eff = 0, prm = 0;
    unsigned found = 0; /* one bit per line: each must come once */
    for (char *line = buf, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        unsigned bit = parse_ids(line, "Uid:", &ruid, &fsuid)   ? 1u
                       : parse_ids(line, "Gid:", &rgid, &fsgid) ? 2u
                       : parse_caps(line, "CapPrm:", &prm)      ? 4u
                       : parse_caps(line, "CapEff:", &eff)      ? 8u
                       : parse_groups(line, c)                  ? 16u
                                                                : 0u;
        if (found & bit)
            found |= 32u; /* twice: not the format this expects */
        found |= bit;
    }
    /* access(2) acts with the real ids; everything else with the fs ids. */
    uid_t uid = c->permitted ? ruid : fsuid;
    gid_t gid = c->permitted ? rgid : fsgid;
    if (found != 31u || uid != c->uid || gid != c->gid) {
        c->ngroups = -1;
        return;
    }
    c->caps = c->permitted ? prm : eff;
}

/* The caller's capabilities; none outside the daemon's user namespace
 * (looked up only when capabilities are asked for, not groups). */
static uint64_t caller_caps(struct caller *c)
{
    caller_read(c);
    if (!c->caps_ns) {
        char ns[NS_LEN];
        c->caps_ns = true;
        if (c->caps && !(userns_of(c->pid, ns) && strcmp(ns, own_userns) == 0))
            c->caps = 0;
    }
    return c->caps;
}

static bool has_cap(struct caller *c, int cap)
{
    return (caller_caps(c) >> cap) & 1;
}


/* in_group_p(): 1 if @gid is the fs gid or a supplementary group, else 0,
 * or -1 when the groups are unknown (the caller is being killed, has more
 * than MAX_GROUPS, or acts with borrowed credentials): the callers then
 * refuse rather than guess. */
static int in_group(struct caller *c, gid_t gid)
{
    if (gid == c->gid)
        return 1;
    caller_read(c);
    if (c->ngroups < 0)
        return -1;
    for (int i = 0; i < c->ngroups; i++)
        if (c->groups[i] == gid)
            return 1;
    return 0;
}

/* setattr_should_drop_suidgid(): a caller with CAP_FSETID keeps both bits,
 * except that a chown always drops set-user-ID; set-group-ID goes with
 * group execute, or when the caller is outside the group @gid. */
mode_t cred_setid_kept(fuse_req_t req, mode_t mode, gid_t gid, bool chown)
{
    if (!(mode & (S_ISUID | S_ISGID)))
        return mode;
    struct caller c;
    caller_init(&c, req);
    bool fsetid = has_cap(&c, CAP_FSETID);
    if (chown || !fsetid)
        mode &= ~(mode_t)S_ISUID;
    if ((mode & S_ISGID) &&
        ((mode & S_IXGRP) || (!fsetid && in_group(&c, gid) <= 0)))
        mode &= ~(mode_t)S_ISGID;
    return mode;
}

/* inode_owner_or_capable() */
static bool owner_or_capable(struct caller *c, const struct stat *attr)
{
    return c->uid == attr->st_uid || has_cap(c, CAP_FOWNER);
}

/* generic_permission(), without ACLs (the kernel sees none through FUSE
 * either): the owner's, group's or others' bits, whichever class the
 * caller is in, then CAP_DAC_READ_SEARCH and CAP_DAC_OVERRIDE. */
static int check(struct caller *c, const struct stat *attr, int mask)
{
    mode_t mode = attr->st_mode, bits = mode;
    mask &= R_OK | W_OK | X_OK;
    if (c->uid == attr->st_uid) {
        bits >>= 6;
    } else if (mask & (mode ^ (mode >> 3))) {
        /* The group's bits where they differ from the others' (so the
         * groups are read only when they matter). */
        int member = in_group(c, attr->st_gid);
        if (member < 0)
            bits = 0; /* unknown groups: no class grants, capabilities may */
        else if (member)
            bits >>= 3;
    }
    if ((mask & ~bits) == 0)
        return 0;
    if (S_ISDIR(mode)) {
        if (!(mask & W_OK) && has_cap(c, CAP_DAC_READ_SEARCH))
            return 0;
        return has_cap(c, CAP_DAC_OVERRIDE) ? 0 : -EACCES;
    }
    if (mask == R_OK && has_cap(c, CAP_DAC_READ_SEARCH))
        return 0;
    if ((!(mask & X_OK) || (mode & 0111)) && has_cap(c, CAP_DAC_OVERRIDE))
        return 0;
    return -EACCES;
}

/* check() for the caller of @req (@access: the caller of access(2)). */
static int perm(fuse_req_t req, const struct stat *attr, int mask,
                bool access)
{
    struct caller c;
    caller_init(&c, req);
    c.permitted = access && c.uid == 0;
    return check(&c, attr, mask);
}

int perm_check(fuse_req_t req, const struct stat *attr, int mask)
{
    return perm(req, attr, mask, false);
}

/*
 * access(2) runs with the caller's real ids and, for root, its permitted
 * capabilities (access_override_creds()); the request carries those ids,
 * but /proc shows the thread's own capabilities.  A root caller is judged
 * by its permitted ones, as access(2) does.  (faccessat2() with
 * AT_EACCESS, the same request, uses the effective ones: for a root
 * process that lowered its effective set the answer is then too kind; it
 * is advice only, as every open is checked with the effective set.)
 */
int perm_access(fuse_req_t req, const struct stat *attr, int mask)
{
    return perm(req, attr, mask, true);
}

int perm_setattr(fuse_req_t req, const struct stat *cur, struct stat *attr,
                 int to_set)
{
    struct caller c;
    caller_init(&c, req);
    /* truncate(2) needs write permission (the caller leaves out the size
     * of an ftruncate(2), which had it at open). */
    if (to_set & FUSE_SET_ATTR_SIZE) {
        int err = check(&c, cur, W_OK);
        if (err < 0)
            return err;
    }
    /* chown_ok(), chgrp_ok() */
    bool owner = c.uid == cur->st_uid;
    if ((to_set & FUSE_SET_ATTR_UID) &&
        !(owner && attr->st_uid == cur->st_uid) && !has_cap(&c, CAP_CHOWN))
        return -EPERM;
    if ((to_set & FUSE_SET_ATTR_GID) &&
        !(owner &&
          (attr->st_gid == cur->st_gid || in_group(&c, attr->st_gid) > 0)) &&
        !has_cap(&c, CAP_CHOWN))
        return -EPERM;
    if (to_set & FUSE_SET_ATTR_MODE) {
        if (!owner_or_capable(&c, cur))
            return -EPERM;
        /* chmod by someone outside the file's group drops set-group-ID */
        gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : cur->st_gid;
        if (in_group(&c, gid) <= 0 && !has_cap(&c, CAP_FSETID))
            attr->st_mode &= ~(mode_t)S_ISGID;
    }
    /* Setting times needs the owner, except touching both to now
     * (utimensat() with NULL times), which write permission allows. */
    int times = to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                          FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW);
    if (times && !owner_or_capable(&c, cur)) {
        int touch = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                    FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;
        if (times != touch)
            return -EPERM;
        int err = check(&c, cur, W_OK);
        if (err < 0)
            return err;
    }
    return 0;
}

/* The capabilities that bear on files (the kernel's CAP_FS_MASK). */
#define FS_CAPS                                                              \
    ((1ull << CAP_CHOWN) | (1ull << CAP_DAC_OVERRIDE) |                      \
     (1ull << CAP_DAC_READ_SEARCH) | (1ull << CAP_FOWNER) |                  \
     (1ull << CAP_FSETID) | (1ull << CAP_LINUX_IMMUTABLE) |                  \
     (1ull << CAP_MKNOD) | (1ull << CAP_MAC_OVERRIDE))

/* Set this thread's effective capabilities to @eff (the rest as the
 * daemon's: daemon_caps, read once by cred_init()). */
static int thread_caps(uint64_t eff)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
    memcpy(d, daemon_caps, sizeof(d));
    d[0].effective = (uint32_t)eff;
    d[1].effective = (uint32_t)(eff >> 32);
    return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static uint64_t daemon_effective(void)
{
    return daemon_caps[0].effective | (uint64_t)daemon_caps[1].effective << 32;
}

/* Can a caller with fs uid @uid that may write the shm directory (the
 * folder checks came first) be refused @what for want of capabilities?
 * Opening an existing file, yes; removing or replacing a name only in a
 * sticky directory of someone else's; making a new name, no. */
static bool caps_matter(enum cred_what what, uid_t uid)
{
    struct stat dir;
    if (what != CRED_REMOVE)
        return what == CRED_OPEN;
    return fstat(shmfs.dirfd, &dir) < 0 ||
           ((dir.st_mode & S_ISVTX) && dir.st_uid != uid);
}

int cred_run(fuse_req_t req, enum cred_what what, int (*op)(void *),
             void *arg)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    if (!enabled)
        return op(arg);
    /* Where the daemon checks (own_checks), every caller runs as root but
     * may lack capabilities: when they can matter, the thread gives up
     * those it lacks, so that the kernel applies the real directory's
     * rules to it too. */
    uint64_t drop = 0;
    struct caller c;
    caller_init(&c, req);
    if (shmfs.own_checks && caps_matter(what, ctx->uid))
        drop = FS_CAPS & ~caller_caps(&c);
    /* A caller with fs uid and gid 0 and all of the daemon's powers over
     * files is the daemon already (a root caller with another gid must
     * still create files with it). */
    if (ctx->uid == 0 && ctx->gid == 0 && !drop)
        return op(arg);
    if (drop) {
        int err = thread_caps(daemon_effective() & ~drop);
        if (err < 0)
            return err;
    }
    caller_read(&c);
    int err = -EPERM;
    /* Unknown groups (the caller is being killed, has more than we can
     * hold, or acts with borrowed credentials): refuse rather than
     * guess. */
    if (c.ngroups < 0)
        err = -EACCES;
    else if ((err = set_groups((size_t)c.ngroups, c.groups)) == 0) {
        /* gid first: once the fs uid is not 0 the thread could not change
         * it. */
        syscall(SYS_setfsgid, ctx->gid);
        syscall(SYS_setfsuid, ctx->uid);
        err = -EPERM;
        if ((uid_t)syscall(SYS_setfsuid, -1) == ctx->uid &&
            (gid_t)syscall(SYS_setfsgid, -1) == ctx->gid)
            err = op(arg);
        syscall(SYS_setfsuid, 0);
        syscall(SYS_setfsgid, 0);
        set_groups(0, NULL);
    }
    if (drop && thread_caps(daemon_effective()) < 0)
        shmfs_log("cannot take back capabilities: %s", strerror(errno));
    return err;
}
