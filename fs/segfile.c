/*
 * segfile.c - the mount's top level: segments as regular files.
 *
 * Every operation works on the shm directory through its fd with the *at()
 * calls and O_NOFOLLOW, never following a symlink, and shows only regular
 * files that are not POSIX semaphores.  Open files are served by FUSE
 * passthrough from the segment itself when the kernel allows it: mmap of a
 * mount file then maps the real shared memory.
 */
#include "shmfs.h"
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

bool seg_name_hidden(const char *name)
{
    /* glibc's sem_open() keeps semaphores in the same directory as
     * "sem.NAME"; libshmseg's shmseg_foreach() skips them too. */
    return strncmp(name, "sem.", 4) == 0;
}

int seg_name_usable(const char *name)
{
    if (strlen(name) > NAME_MAX)
        return -ENAMETOOLONG;
    if (shmseg_name_check(name) < 0)
        return -EINVAL;
    return seg_name_hidden(name) ? -EPERM : 0;
}

int seg_stat(const char *name, struct stat *st)
{
    if (strlen(name) > NAME_MAX)
        return -ENAMETOOLONG;
    if (seg_name_hidden(name))
        return -ENOENT;
    if (fstatat(shmfs.dirfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    return S_ISREG(st->st_mode) ? 0 : -ENOENT;
}

int seg_open(const char *name, ino_t ino, int flags)
{
    int fd = openat(shmfs.dirfd, name,
                    flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        (ino && st.st_ino != ino)) {
        close(fd);
        return -ENOENT; /* replaced since the kernel looked it up */
    }
    /* O_NONBLOCK only kept a FIFO planted under the name from blocking. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

enum node_kind seg_classify(const char *name, const struct stat *st,
                            size_t *n)
{
    *n = 0;
    if (st->st_size < 16) /* smaller than the empty list */
        return NODE_SEGMENT;
    /* O_NOATIME: looking must not make a segment look recently used. */
    int fd = seg_open(name, st->st_ino, O_RDONLY | O_NOATIME);
    if (fd == -EPERM)
        fd = seg_open(name, st->st_ino, O_RDONLY);
    if (fd < 0)
        return NODE_SEGMENT;
    int err = shmseg_list_check_fd(fd, n);
    /* A list the kernel knows may just be mid-update (transient_retry()). */
    if (err == -EBADMSG && node_find(NODE_LIST, st->st_ino)) {
        unsigned attempt = 0;
        while (err == -EBADMSG && transient_retry(attempt++))
            err = shmseg_list_check_fd(fd, n);
    }
    close(fd);
    return err == 0 ? NODE_LIST : NODE_SEGMENT;
}

void seg_attr(enum node_kind kind, const struct stat *st, size_t nelem,
              struct stat *attr)
{
    (void)nelem;
    *attr = *st;
    if (kind == NODE_LIST) {
        mode_t perm = st->st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID);
        /* A folder is searchable by whoever may read the segment. */
        attr->st_mode = S_IFDIR | perm | ((perm & 0444) >> 2);
        attr->st_nlink = 2;
    }
}

void seg_lookup(fuse_req_t req, const char *name)
{
    struct stat st, attr;
    size_t nelem;

    int err = seg_stat(name, &st);
    if (err < 0) {
        fuse_reply_err(req, -err);
        return;
    }
    enum node_kind kind = seg_classify(name, &st, &nelem);
    struct node *n = node_get(kind, st.st_ino, 0, name, NULL);
    if (!n) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    seg_attr(kind, &st, nelem, &attr);
    reply_entry(req, n, &attr);
}

/* The segment behind @n, stat'ed by name and checked to be the same one. */
static int node_stat(struct node *n, struct stat *st)
{
    char name[NAME_MAX + 1];
    int err = node_name(n, name);
    if (err == 0)
        err = seg_stat(name, st);
    if (err == 0 && st->st_ino != n->ino)
        err = -ENOENT;
    return err;
}

/* The fd of an open segment file (fi->fh), or -1. */
static int fh_fd(const struct fuse_file_info *fi)
{
    return fi ? (int)fi->fh : -1;
}

void seg_getattr(fuse_req_t req, struct node *n, struct fuse_file_info *fi)
{
    struct stat st, attr;
    int err = 0;
    int fd = n->kind == NODE_LIST ? -1 : fh_fd(fi);

    if (fd >= 0)
        err = fstat(fd, &st) < 0 ? -errno : 0;
    else
        err = node_stat(n, &st);
    if (err < 0) {
        fuse_reply_err(req, -err);
        return;
    }
    seg_attr(n->kind == NODE_LIST ? NODE_LIST : NODE_SEGMENT, &st, 0, &attr);
    fuse_reply_attr(req, &attr, shmfs.timeout);
}

static struct timespec settime(const struct stat *attr, int to_set, int set,
                               int now, bool atime)
{
    if (to_set & now)
        return (struct timespec){.tv_nsec = UTIME_NOW};
    if (to_set & set)
        return atime ? attr->st_atim : attr->st_mtim;
    return (struct timespec){.tv_nsec = UTIME_OMIT};
}

/* chmod, chown, truncate and utimens on the open segment @fd. */
static int apply_setattr(int fd, const struct stat *attr, int to_set)
{
    if ((to_set & FUSE_SET_ATTR_MODE) && fchmod(fd, attr->st_mode & 07777) < 0)
        return -errno;
    if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
        uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
        gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
        if (fchown(fd, uid, gid) < 0)
            return -errno;
    }
    if ((to_set & FUSE_SET_ATTR_SIZE) && ftruncate(fd, attr->st_size) < 0)
        return -errno;
    if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                  FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) {
        struct timespec ts[2] = {
            settime(attr, to_set, FUSE_SET_ATTR_ATIME,
                    FUSE_SET_ATTR_ATIME_NOW, true),
            settime(attr, to_set, FUSE_SET_ATTR_MTIME,
                    FUSE_SET_ATTR_MTIME_NOW, false),
        };
        if (futimens(fd, ts) < 0)
            return -errno;
    }
    return 0;
}

void seg_setattr(fuse_req_t req, struct node *n, struct stat *attr, int to_set,
                 struct fuse_file_info *fi)
{
    struct stat st, out;
    char name[NAME_MAX + 1];
    int fd = n->kind == NODE_LIST ? -1 : fh_fd(fi);
    bool own = fd < 0;
    int err = 0;

    if (n->kind == NODE_LIST && (to_set & FUSE_SET_ATTR_SIZE)) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    if (own) {
        err = node_name(n, name);
        if (err == 0) {
            fd = seg_open(name, n->ino, O_RDWR);
            if (fd == -EACCES) /* a daemon without root: best effort */
                fd = seg_open(name, n->ino, O_RDONLY);
            err = fd < 0 ? fd : 0;
        }
    }
    if (err == 0)
        err = apply_setattr(fd, attr, to_set);
    if (err == 0 && fstat(fd, &st) < 0)
        err = -errno;
    if (own && fd >= 0)
        close(fd);
    if (err < 0) {
        fuse_reply_err(req, -err);
        return;
    }
    seg_attr(n->kind == NODE_LIST ? NODE_LIST : NODE_SEGMENT, &st, 0, &out);
    fuse_reply_attr(req, &out, shmfs.timeout);
}

/* Register @fd as @n's backing file if this is the node's first open file;
 * returns the backing id to reply with (0: served by the daemon). */
static int backing_get(fuse_req_t req, struct node *n, int fd)
{
    static atomic_bool warned;
    int id = 0;

    pthread_mutex_lock(&shmfs.lock);
    if (n->nopen == 0 && shmfs.passthrough) {
        id = compat_backing_open(req, fd);
        if (id < 0) {
            if (!atomic_exchange(&warned, true))
                shmfs_log("passthrough refused by the kernel (%s): read, "
                          "write and mmap go through the daemon",
                          strerror(-id));
            shmfs.passthrough = false;
            id = 0;
        }
        n->backing_id = id;
    }
    n->nopen++;
    id = n->backing_id;
    pthread_mutex_unlock(&shmfs.lock);
    return id;
}

static void backing_put(fuse_req_t req, struct node *n)
{
    pthread_mutex_lock(&shmfs.lock);
    if (--n->nopen == 0 && n->backing_id > 0) {
        compat_backing_close(req, n->backing_id);
        n->backing_id = 0;
    }
    pthread_mutex_unlock(&shmfs.lock);
}

/* Open the segment behind @n for a file handle: read-write whatever the
 * caller asked (the kernel has checked the caller's access; the backing
 * file is shared by every open file of the node). */
static int open_for_handle(struct node *n, int flags)
{
    char name[NAME_MAX + 1];
    int err = node_name(n, name);
    if (err < 0)
        return err;
    int fd = seg_open(name, n->ino, O_RDWR);
    if (fd == -EACCES)
        fd = seg_open(name, n->ino, flags & O_ACCMODE);
    if (fd >= 0 && (flags & O_TRUNC) && ftruncate(fd, 0) < 0) {
        err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

/* Finish an open or create of @n on @fd: backing file, handle, reply. */
static void reply_opened(fuse_req_t req, struct node *n, int fd,
                         struct fuse_file_info *fi,
                         const struct fuse_entry_param *e)
{
    node_hold(n);
    int id = backing_get(req, n, fd);
    fi->fh = (uint64_t)fd;
    fi->direct_io = 0;
    fi->keep_cache = 0;
    int rc = e ? compat_reply_create(req, e, fi, id)
               : compat_reply_open(req, fi, id);
    if (rc != 0) { /* the caller is gone: no release will come */
        backing_put(req, n);
        close(fd);
        node_release(n);
    }
}

void seg_open_file(fuse_req_t req, struct node *n, struct fuse_file_info *fi)
{
    int fd = open_for_handle(n, fi->flags);
    if (fd < 0) {
        fuse_reply_err(req, -fd);
        return;
    }
    reply_opened(req, n, fd, fi, NULL);
}

/* May the caller open the existing @st with @flags?  Only for a create that
 * lost a race with another creator: the kernel checked nothing then. */
static bool may_open(const struct fuse_ctx *ctx, const struct stat *st,
                     int flags)
{
    if (ctx->uid == 0)
        return true;
    mode_t bits = st->st_mode;
    int shift = ctx->uid == st->st_uid ? 6 : ctx->gid == st->st_gid ? 3 : 0;
    int acc = flags & O_ACCMODE;
    mode_t need = (acc == O_RDONLY ? 4 : acc == O_WRONLY ? 2 : 6);
    return ((bits >> shift) & need) == need;
}

void seg_create(fuse_req_t req, const char *name, mode_t mode,
                struct fuse_file_info *fi)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct fuse_entry_param e;
    int err = seg_name_usable(name);
    int fd = -1;

    if (err < 0)
        goto fail;
    fd = openat(shmfs.dirfd, name,
                O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd >= 0) {
        /* Owned by the caller, as if the caller had called shm_open(); the
         * kernel already applied the caller's umask to @mode. */
        if ((geteuid() == 0 && fchown(fd, ctx->uid, ctx->gid) < 0) ||
            fchmod(fd, mode & 07777) < 0) {
            err = -errno;
            unlinkat(shmfs.dirfd, name, 0);
            goto fail;
        }
        if ((fi->flags & O_TRUNC) && ftruncate(fd, 0) < 0) {
            err = -errno;
            goto fail;
        }
    } else if (errno == EEXIST && !(fi->flags & O_EXCL)) {
        /* Created by someone else since the kernel's lookup. */
        struct stat st;
        err = seg_stat(name, &st);
        if (err == 0 && !may_open(ctx, &st, fi->flags))
            err = -EACCES;
        if (err < 0)
            goto fail;
        fd = seg_open(name, st.st_ino, O_RDWR);
        if (fd < 0) {
            err = fd;
            goto fail;
        }
        if ((fi->flags & O_TRUNC) && ftruncate(fd, 0) < 0) {
            err = -errno;
            goto fail;
        }
    } else {
        err = -errno;
        goto fail;
    }

    memset(&e, 0, sizeof(e));
    if (fstat(fd, &e.attr) < 0) {
        err = -errno;
        goto fail;
    }
    struct node *n = node_get(NODE_SEGMENT, e.attr.st_ino, 0, name, NULL);
    if (!n) {
        err = -ENOMEM;
        goto fail;
    }
    e.ino = node_id(n);
    e.attr_timeout = shmfs.timeout;
    e.entry_timeout = shmfs.timeout;
    reply_opened(req, n, fd, fi, &e);
    return;
fail:
    if (fd >= 0)
        close(fd);
    fuse_reply_err(req, -err);
}

void seg_release(fuse_req_t req, struct node *n, struct fuse_file_info *fi)
{
    close(fh_fd(fi));
    backing_put(req, n);
    node_release(n);
    fuse_reply_err(req, 0);
}

/* Without passthrough the daemon serves the data (spliced from the fd). */
void seg_read(fuse_req_t req, struct fuse_file_info *fi, size_t size,
              off_t off)
{
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    buf.buf[0].fd = fh_fd(fi);
    buf.buf[0].pos = off;
    fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void seg_write(fuse_req_t req, struct fuse_file_info *fi, const char *buf,
               size_t size, off_t off)
{
    ssize_t n = pwrite(fh_fd(fi), buf, size, off);
    if (n < 0)
        fuse_reply_err(req, errno);
    else
        fuse_reply_write(req, (size_t)n);
}

void seg_fsync(fuse_req_t req, struct fuse_file_info *fi)
{
    fuse_reply_err(req, fsync(fh_fd(fi)) < 0 ? errno : 0);
}

void seg_unlink(fuse_req_t req, const char *name, bool as_dir)
{
    struct stat st;
    size_t nelem;
    int err = seg_stat(name, &st);
    if (err == 0 && as_dir && seg_classify(name, &st, &nelem) != NODE_LIST)
        err = -ENOTDIR;
    /* shm_unlink(); mappings and open files keep the memory alive. */
    if (err == 0 && unlinkat(shmfs.dirfd, name, 0) < 0)
        err = -errno;
    fuse_reply_err(req, -err);
}

void seg_rename(fuse_req_t req, const char *name, const char *newname,
                unsigned flags)
{
    struct stat st, target;
    int err = seg_stat(name, &st);
    if (err == 0)
        err = seg_name_usable(newname);
    if (err == 0 && (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)))
        err = -EINVAL;
    /* Never replace what shmfs does not show (a directory or symlink
     * planted in the shm directory, a semaphore). */
    bool exists = false;
    if (err == 0 &&
        fstatat(shmfs.dirfd, newname, &target, AT_SYMLINK_NOFOLLOW) == 0) {
        exists = true;
        if (!S_ISREG(target.st_mode))
            err = -EEXIST;
    }
    if (err == 0 &&
        renameat2(shmfs.dirfd, name, shmfs.dirfd, newname, flags) < 0)
        err = -errno;
    if (err == 0) {
        node_rename(st.st_ino, newname);
        if (exists && (flags & RENAME_EXCHANGE))
            node_rename(target.st_ino, name);
    }
    fuse_reply_err(req, -err);
}

void seg_statfs(fuse_req_t req)
{
    struct statvfs sv;
    if (fstatvfs(shmfs.dirfd, &sv) < 0)
        fuse_reply_err(req, errno);
    else
        fuse_reply_statfs(req, &sv);
}

ssize_t seg_users_xattr(struct node *n, const char *attr, char *buf,
                        size_t cap)
{
    char name[NAME_MAX + 1];
    bool pids = strcmp(attr, "user.shmfs.pids") == 0;
    int err = node_name(n, name);
    if (err < 0)
        return err;
    /* Computed when asked (one pass over /proc); the daemon's own use of
     * the segment is not a user's. */
    pid_t some[64], *all = some;
    size_t have = 64;
    int count = shmseg_mappers(shmfs.ns, name, getpid(), all, have);
    if (count > 64 && pids) {
        have = (size_t)count;
        all = malloc(have * sizeof(*all));
        if (!all)
            return -ENOMEM;
        count = shmseg_mappers(shmfs.ns, name, getpid(), all, have);
    }
    if (count < 0) {
        if (all != some)
            free(all);
        return count;
    }
    if (!pids)
        return snprintf(buf, cap, "%d", count);
    ssize_t len = 0;
    if (cap)
        buf[0] = 0;
    /* The set may have grown between the two scans: list what was read. */
    for (size_t i = 0; i < (size_t)count && i < have; i++) {
        size_t room = (size_t)len < cap ? cap - (size_t)len : 0;
        len += snprintf(room ? buf + len : NULL, room, "%s%d", i ? "," : "",
                        (int)all[i]);
    }
    if (all != some)
        free(all);
    return len;
}

/* --- the root folder ---------------------------------------------------- */

static void free_names(struct dir_handle *d)
{
    for (size_t i = 0; i < d->count; i++)
        free(d->names[i]);
    free(d->names);
    d->names = NULL;
    d->count = 0;
}

static void dir_handle_destroy(struct handle *h)
{
    struct dir_handle *d = (struct dir_handle *)h;
    free_names(d);
    free(d);
}

struct dir_handle *dir_handle_new(size_t nelem)
{
    struct dir_handle *d = calloc(1, sizeof(*d));
    if (d) {
        d->nelem = nelem;
        handle_track(&d->h, dir_handle_destroy);
    }
    return d;
}

void dir_handle_free(struct dir_handle *d)
{
    handle_untrack(&d->h);
    dir_handle_destroy(&d->h);
}

static int read_names(struct dir_handle *d)
{
    int fd = openat(shmfs.dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *dp = fdopendir(fd);
    if (!dp) {
        close(fd);
        return -errno;
    }
    size_t cap = 0;
    int err = 0;
    struct dirent *de;
    free_names(d);
    while ((de = readdir(dp))) {
        if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
            continue;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            seg_name_hidden(de->d_name))
            continue;
        if (d->count == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            char **nn = realloc(d->names, ncap * sizeof(*nn));
            if (!nn) {
                err = -ENOMEM;
                break;
            }
            d->names = nn;
            cap = ncap;
        }
        d->names[d->count] = strdup(de->d_name);
        if (!d->names[d->count]) {
            err = -ENOMEM;
            break;
        }
        d->count++;
    }
    closedir(dp);
    if (err < 0)
        free_names(d);
    return err;
}

void root_opendir(fuse_req_t req, struct fuse_file_info *fi)
{
    struct dir_handle *d = dir_handle_new(0);
    if (!d) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int err = read_names(d);
    if (err < 0) {
        dir_handle_free(d);
        fuse_reply_err(req, -err);
        return;
    }
    d->fresh = true;
    fi->fh = (uint64_t)(uintptr_t)d;
    if (fuse_reply_open(req, fi) != 0)
        dir_handle_free(d);
}

void dir_releasedir(fuse_req_t req, struct fuse_file_info *fi)
{
    dir_handle_free((struct dir_handle *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

size_t dir_entry_size(fuse_req_t req, const char *name, bool plus)
{
    return plus ? fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0)
                : fuse_add_direntry(req, NULL, 0, name, NULL, 0);
}

size_t dir_add(fuse_req_t req, char *buf, size_t rem, const char *name,
               struct node *n, const struct stat *attr, off_t next, bool plus)
{
    if (!plus) {
        struct stat st = {.st_ino = attr->st_ino, .st_mode = attr->st_mode};
        return fuse_add_direntry(req, buf, rem, name, &st, next);
    }
    struct fuse_entry_param e;
    memset(&e, 0, sizeof(e));
    e.attr = *attr;
    if (n) {
        e.ino = node_id(n);
        entry_timeouts(n, attr, &e);
    }
    return fuse_add_direntry_plus(req, buf, rem, name, &e, next);
}

void root_readdir(fuse_req_t req, size_t size, off_t off,
                  struct fuse_file_info *fi, bool plus)
{
    struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
    char *buf = malloc(size);
    size_t used = 0;
    int err = 0;

    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    /* A rewind (offset 0 after the first pass) reads the directory again. */
    if (off == 0 && !d->fresh && (err = read_names(d)) < 0)
        goto out;
    d->fresh = false;
    for (size_t i = (size_t)off; i < d->count + 2; i++) {
        const char *name = i == 0 ? "." : i == 1 ? ".." : d->names[i - 2];
        size_t need = dir_entry_size(req, name, plus);
        if (used + need > size)
            break;
        struct stat st, attr;
        struct node *n = NULL;
        if (i < 2) {
            /* No lookup for "." and "..": node id 0 tells the kernel so. */
            memset(&attr, 0, sizeof(attr));
            attr.st_mode = S_IFDIR;
        } else {
            size_t nelem;
            if (seg_stat(name, &st) < 0)
                continue; /* gone since opendir */
            enum node_kind kind = seg_classify(name, &st, &nelem);
            seg_attr(kind, &st, nelem, &attr);
            if (plus && !(n = node_get(kind, st.st_ino, 0, name, NULL))) {
                err = -ENOMEM;
                break;
            }
        }
        used += dir_add(req, buf + used, size - used, name, n, &attr,
                        (off_t)(i + 1), plus);
    }
out:
    if (err < 0 && used == 0)
        fuse_reply_err(req, -err);
    else
        fuse_reply_buf(req, buf, used);
    free(buf);
}
