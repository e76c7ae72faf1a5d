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
    /* O_NONBLOCK kept a FIFO planted under the name from blocking; on the
     * regular file returned it changes nothing, so it stays. */
    return fd;
}

int seg_classify(const char *name, const struct stat *st, bool patient,
                 enum node_kind *kind)
{
    *kind = NODE_SEGMENT;
    if (st->st_size < 16) /* smaller than the empty list */
        return 0;
    /* O_NOATIME: looking must not make a segment look recently used.
     * O_NONBLOCK: a FIFO planted under the name must not block; the check
     * below refuses anything but a regular file. */
    int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    int fd = openat(shmfs.dirfd, name, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(shmfs.dirfd, name, flags);
    if (fd < 0 && errno == EACCES) /* a daemon without root: a file */
        return 0;
    if (fd < 0) /* gone, or out of fds: no guess */
        return -errno;
    /* Replaced since @st was taken: the check judges the file it reads, and
     * the caller shows it under @st's inode; a later lookup sorts it out. */
    int err = shmseg_list_check_fd(fd, NULL);
    /* A list the kernel knows may just be mid-update (transient_retry()). */
    if (err == -EBADMSG && patient && node_find(NODE_LIST, st->st_ino)) {
        unsigned attempt = 0;
        while (err == -EBADMSG && transient_retry(attempt++))
            err = shmseg_list_check_fd(fd, NULL);
    }
    close(fd);
    if (err == 0)
        *kind = NODE_LIST;
    return err == -EBADMSG || err == 0 ? 0 : err;
}

void seg_attr(enum node_kind kind, const struct stat *st, struct stat *attr)
{
    *attr = *st;
    if (kind == NODE_LIST) {
        mode_t perm = st->st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID);
        /* A folder is searchable by whoever may read the segment. */
        attr->st_mode = S_IFDIR | perm | ((perm & 0444) >> 2);
        attr->st_nlink = 2;
        /* Not the segment's inode number: that is .raw's. */
        attr->st_ino = list_folder_ino(st->st_ino);
    }
}

void seg_lookup(fuse_req_t req, const char *name)
{
    struct stat st, attr;
    enum node_kind kind;

    int err = seg_stat(name, &st);
    if (err == 0)
        err = seg_classify(name, &st, true, &kind);
    if (err < 0) {
        fuse_reply_err(req, -err);
        return;
    }
    struct node *n = node_get(kind, st.st_ino, 0, name, NULL);
    if (!n) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    seg_attr(kind, &st, &attr);
    node_shown(n, &st, true);
    reply_entry(req, n, &attr);
}

/* --- open files: one fd and one backing file per node ------------------- */

/*
 * Every open file of a node shares one read-write fd on the segment, opened
 * by the first open and closed after the last release, and (with
 * passthrough) one backing id registered from it: the kernel wants a single
 * backing file per inode.  The fd also answers fstat() on a file that was
 * renamed or unlinked while open.
 */

/* Open the segment behind @n by name, read-write as the daemon (the kernel
 * has checked the caller's access), checking it is still the same file. */
static int open_by_name(struct node *n)
{
    char name[NAME_MAX + 1];
    int err = node_name(n, name);
    if (err < 0)
        return err;
    int fd = seg_open(name, n->ino, O_RDWR);
    if (fd == -EACCES) /* a daemon without root: as much as it may */
        fd = seg_open(name, n->ino, O_RDONLY);
    return fd;
}

/* Register @fd as @n's backing file.  Lock held.  Only a kernel or
 * privilege refusal turns passthrough off for the mount; any other failure
 * leaves this node served by the daemon. */
static int backing_open(fuse_req_t req, int fd)
{
    static atomic_bool warned;
    if (!shmfs.passthrough)
        return 0;
    int id = compat_backing_open(req, fd);
    if (id > 0) {
        shmfs.nbacking++;
        return id;
    }
    if (!atomic_exchange(&warned, true))
        shmfs_log("passthrough refused for a segment (%s)%s", strerror(-id),
                  id == -EPERM || id == -EOPNOTSUPP
                      ? ": read, write and mmap go through the daemon"
                      : "");
    if (id == -EPERM || id == -EOPNOTSUPP)
        shmfs.passthrough = false;
    return 0;
}

/*
 * Take an open-file reference on @n.  @fd, if not negative, is an fd on the
 * segment that the caller hands over (used or closed here).  Gives the
 * backing id to reply with (0: served by the daemon).
 */
static int file_get(fuse_req_t req, struct node *n, int fd, int *backing)
{
    for (;;) {
        pthread_mutex_lock(&shmfs.lock);
        if (n->nopen > 0 || fd >= 0) {
            if (n->nopen == 0) {
                n->fd = fd;
                n->backing_id = backing_open(req, fd);
                fd = -1;
            }
            n->nopen++;
            n->refs++;
            *backing = n->backing_id;
            pthread_mutex_unlock(&shmfs.lock);
            if (fd >= 0)
                close(fd); /* another open got there first */
            return 0;
        }
        pthread_mutex_unlock(&shmfs.lock);
        /* Not open: open it outside the lock, then look again (the node
         * may have been opened, or closed, meanwhile). */
        fd = open_by_name(n);
        if (fd < 0)
            return fd;
    }
}

/* Drop an open-file reference; the last closes the fd and backing file. */
static void file_put(fuse_req_t req, struct node *n)
{
    int fd = -1, id = 0;
    pthread_mutex_lock(&shmfs.lock);
    if (--n->nopen == 0) {
        fd = n->fd;
        id = n->backing_id;
        n->backing_id = 0;
    }
    pthread_mutex_unlock(&shmfs.lock);
    if (id > 0) {
        compat_backing_close(req, id);
        shmfs.nbacking--;
    }
    if (fd >= 0)
        close(fd);
    node_release(n);
}

/* The node's fd if a file is open (with a reference: file_put() it), or
 * -1.  For getattr and setattr, which the kernel may send without a file
 * handle even for an open file. */
static int file_peek(struct node *n)
{
    int fd = -1;
    pthread_mutex_lock(&shmfs.lock);
    if (n->nopen > 0) {
        n->nopen++;
        n->refs++;
        fd = n->fd;
    }
    pthread_mutex_unlock(&shmfs.lock);
    return fd;
}

/* The segment behind @n: by its open fd if it has one, else by name. */
static int node_stat(fuse_req_t req, struct node *n, struct stat *st)
{
    int fd = file_peek(n);
    if (fd >= 0) {
        int err = fstat(fd, st) < 0 ? -errno : 0;
        file_put(req, n);
        return err;
    }
    char name[NAME_MAX + 1];
    int err = node_name(n, name);
    if (err == 0)
        err = seg_stat(name, st);
    if (err == 0 && st->st_ino != n->ino)
        err = -ENOENT;
    return err;
}

static enum node_kind shown_kind(const struct node *n)
{
    return n->kind == NODE_LIST ? NODE_LIST : NODE_SEGMENT;
}

int seg_shown_attr(fuse_req_t req, struct node *n, struct stat *attr,
                   struct stat *folder)
{
    if (n->kind == NODE_ROOT)
        return fstat(shmfs.dirfd, attr) < 0 ? -errno : 0;
    /* Elements and .raw: the segment is their folder's. */
    struct node *seg = n->list ? n->list : n;
    struct stat st;
    int err = node_stat(req, seg, &st);
    if (err < 0)
        return err;
    if (n->kind == NODE_ELEMENT)
        elem_attr(&st, seg->ino, n->index, 0, attr);
    else
        seg_attr(shown_kind(n), &st, attr);
    if (folder && n->list)
        seg_attr(NODE_LIST, &st, folder);
    return 0;
}

/* Reply to a getattr (@setattr false) or setattr of @n: @err, or the
 * segment stat @st. */
static void reply_attr(fuse_req_t req, struct node *n, int err,
                       const struct stat *st, bool setattr)
{
    struct stat attr;
    if (err < 0) {
        fuse_reply_err(req, -err);
        return;
    }
    seg_attr(shown_kind(n), st, &attr);
    if (setattr)
        node_applied(n, st);
    else
        node_shown(n, st, false);
    fuse_reply_attr(req, &attr, shmfs.timeout);
}

void seg_getattr(fuse_req_t req, struct node *n)
{
    struct stat st;
    int err = node_stat(req, n, &st);
    reply_attr(req, n, err, &st, false);
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

/*
 * Clear set-user-ID and set-group-ID as the kernel does when a file is
 * written, truncated or chowned (cred_setid_kept()): the mount asks the
 * kernel to leave that to the daemon (compat.c, killpriv v2).  @before:
 * the file before a chown (@chown), whose group the rule judges by; NULL
 * when the group has not changed.  Writes served by
 * passthrough do not come here, so an open for writing clears the bits
 * already (a little earlier than the kernel would: at the open, not the
 * first write).  A daemon that is not root may lack the right to (the
 * file is not its own): the bits then stay.
 */
static int kill_setid(fuse_req_t req, int fd, const struct stat *before,
                      bool chown)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    mode_t mode = st.st_mode & 07777;
    mode_t keep = cred_setid_kept(req, mode, (before ? before : &st)->st_gid,
                                  chown);
    if (keep != mode && fchmod(fd, keep) < 0 &&
        !(errno == EPERM && geteuid() != 0))
        return -errno;
    return 0;
}

/* Does an open with @flags write (or truncate)? */
static bool opens_for_writing(int flags)
{
    return (flags & (O_ACCMODE | O_TRUNC)) != O_RDONLY;
}

/* chmod, chown, truncate and utimens on the open segment @fd. */
static int apply_setattr(fuse_req_t req, int fd, const struct stat *attr,
                         int to_set)
{
    /* The group the file had before a chown: the set-ID rule judges by it
     * (nothing else here changes the group). */
    int kill = to_set & (FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID);
    bool chown = to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID);
    struct stat before;
    if (kill && chown && fstat(fd, &before) < 0)
        return -errno;
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
    if (kill) {
        int err = kill_setid(req, fd, chown ? &before : NULL, chown);
        if (err < 0)
            return err;
    }
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

void seg_setattr(fuse_req_t req, struct node *n, struct stat *attr, int to_set)
{
    struct stat st;

    if (n->kind == NODE_LIST && (to_set & FUSE_SET_ATTR_SIZE)) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    /* The kernel checked the caller against the attributes of this very
     * node (default_permissions); the fd is that node's file. */
    int fd = file_peek(n);
    bool shared = fd >= 0;
    if (!shared)
        fd = open_by_name(n);
    int err = fd < 0 ? fd : apply_setattr(req, fd, attr, to_set);
    if (err == 0 && fstat(fd, &st) < 0)
        err = -errno;
    if (shared)
        file_put(req, n);
    else if (fd >= 0)
        close(fd);
    reply_attr(req, n, err, &st, true);
}

/* Reply to an open or create of @n (which holds an open-file reference). */
static void reply_opened(fuse_req_t req, struct node *n, int backing,
                         struct fuse_file_info *fi,
                         const struct fuse_entry_param *e)
{
    fi->fh = 0; /* everything is in the node */
    fi->direct_io = 0;
    fi->keep_cache = 0;
    int rc = e ? compat_reply_create(req, e, fi, backing)
               : compat_reply_open(req, fi, backing);
    if (rc != 0) { /* the caller is gone: no release will come */
        file_put(req, n);
        if (e)
            node_forget(n, 1);
    }
}

void seg_open_file(fuse_req_t req, struct node *n, struct fuse_file_info *fi)
{
    int backing;
    int err = file_get(req, n, -1, &backing);
    if (err < 0) { /* no reference taken (the name is gone, say) */
        fuse_reply_err(req, -err);
        return;
    }
    if ((fi->flags & O_TRUNC) && ftruncate(n->fd, 0) < 0)
        err = -errno;
    /* Writes served by passthrough never reach the daemon, so the set-ID
     * bits an unprivileged write would clear are cleared when such a
     * caller opens the file for writing (or truncates it). */
    if (err == 0 && opens_for_writing(fi->flags))
        err = kill_setid(req, n->fd, NULL, false);
    if (err < 0) {
        file_put(req, n);
        fuse_reply_err(req, -err);
    } else {
        reply_opened(req, n, backing, fi, NULL);
    }
}

struct create_args {
    const char *name;
    mode_t mode;
    int flags;
    int fd;
    bool created; /* a new file (else one that was there) */
};

/*
 * The node's shared fd is read-write whatever the caller asked.  A file
 * that O_CREAT | O_EXCL makes is opened without a permission check, so
 * the file is made that way, read-write at once.  Without O_EXCL a file
 * already there (the kernel looked the name up first, so it came
 * meanwhile) is opened as the caller asked, and seg_create() reopens it.
 */
static int create_op(void *arg)
{
    struct create_args *a = arg;
    const int always = O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    for (int attempt = 0; attempt < 3; attempt++) {
        a->fd = openat(shmfs.dirfd, a->name, O_CREAT | O_EXCL | O_RDWR | always,
                       a->mode & 07777);
        a->created = a->fd >= 0;
        if (a->fd >= 0 || errno != EEXIST || (a->flags & O_EXCL))
            break;
        a->fd = openat(shmfs.dirfd, a->name,
                       (a->flags & (O_ACCMODE | O_TRUNC)) | always);
        if (a->fd >= 0 || errno != ENOENT)
            break; /* (ENOENT: gone again meanwhile; make it anew) */
    }
    return a->fd < 0 ? -errno : 0;
}

/* open(O_CREAT) in the shm directory as the caller: the kernel applies the
 * directory's rules and, if the name exists, the file's.  Returns the fd,
 * and in @created whether the file is new. */
static int create_as_caller(fuse_req_t req, const char *name, mode_t mode,
                            int flags, bool *created)
{
    struct create_args a = {name, mode, flags, -1, false};
    int err = cred_run(req, (flags & O_EXCL) ? CRED_CREATE : CRED_OPEN,
                       create_op, &a);
    /* A name held by what shmfs does not show (a symlink, a directory, a
     * FIFO) is taken all the same. */
    if (err == -ELOOP || err == -EISDIR || err == -ENXIO)
        err = -EEXIST;
    *created = a.created;
    return err < 0 ? err : a.fd;
}

void seg_create(fuse_req_t req, const char *name, mode_t mode,
                struct fuse_file_info *fi)
{
    struct fuse_entry_param e;
    enum node_kind kind;
    char self[32];
    int backing;

    memset(&e, 0, sizeof(e));
    bool created = false;
    int err = seg_name_usable(name);
    int fd = err < 0 ? err
                     : create_as_caller(req, name, mode, fi->flags, &created);
    if (fd < 0) {
        fuse_reply_err(req, -fd);
        return;
    }
    if (fstat(fd, &e.attr) < 0)
        err = -errno;
    else if (!S_ISREG(e.attr.st_mode))
        err = -EEXIST;
    /* Someone else may have made it a list meanwhile: not a file. */
    else if (seg_classify(name, &e.attr, true, &kind) == 0 &&
             kind == NODE_LIST)
        err = -EISDIR;
    if (err < 0) {
        close(fd);
        fuse_reply_err(req, -err);
        return;
    }
    /* A file that was there, opened for writing: as seg_open_file(). */
    if (!created && opens_for_writing(fi->flags) &&
        (err = kill_setid(req, fd, NULL, false)) < 0) {
        close(fd);
        fuse_reply_err(req, -err);
        return;
    }
    /* Not read-write yet: reopen this very file (not the name, which may
     * change) as the daemon. */
    if (!created && (fi->flags & O_ACCMODE) != O_RDWR) {
        snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
        int rw = open(self, O_RDWR | O_CLOEXEC);
        if (rw >= 0) {
            close(fd);
            fd = rw;
        }
    }
    struct node *n = node_get(NODE_SEGMENT, e.attr.st_ino, 0, name, NULL);
    if (!n) {
        close(fd);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    /* Just created, or a file that is no list: a plain segment. */
    node_shown(n, &e.attr, true);
    file_get(req, n, fd, &backing); /* cannot fail: it has an fd */
    e.ino = node_id(n);
    entry_timeouts(n, &e);
    reply_opened(req, n, backing, fi, &e);
}

void seg_release(fuse_req_t req, struct node *n)
{
    file_put(req, n);
    fuse_reply_err(req, 0);
}

/* Without passthrough the daemon serves the data (spliced from the fd).
 * The kernel sends no read or write for a file it has released, so the
 * node's fd is open throughout. */
void seg_read(fuse_req_t req, struct node *n, size_t size, off_t off)
{
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    buf.buf[0].fd = n->fd;
    buf.buf[0].pos = off;
    fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void seg_write(fuse_req_t req, struct node *n, const char *buf, size_t size,
               off_t off)
{
    int err = kill_setid(req, n->fd, NULL, false);
    if (err < 0) {
        fuse_reply_err(req, -err);
        return;
    }
    ssize_t done = pwrite(n->fd, buf, size, off);
    if (done < 0)
        fuse_reply_err(req, errno);
    else
        fuse_reply_write(req, (size_t)done);
}

void seg_fsync(fuse_req_t req, struct node *n)
{
    fuse_reply_err(req, fsync(n->fd) < 0 ? errno : 0);
}

static int unlink_op(void *name)
{
    return unlinkat(shmfs.dirfd, name, 0) < 0 ? -errno : 0;
}

void seg_unlink(fuse_req_t req, const char *name, bool as_dir)
{
    struct stat st;
    enum node_kind kind;
    int err = seg_stat(name, &st);
    if (err == 0 && as_dir && (err = seg_classify(name, &st, true, &kind)) == 0 &&
        kind != NODE_LIST)
        err = -ENOTDIR;
    /* shm_unlink() as the caller (sticky directories); mappings and open
     * files keep the memory alive. */
    if (err == 0)
        err = cred_run(req, CRED_REMOVE, unlink_op, (void *)name);
    fuse_reply_err(req, -err);
}

struct rename_args {
    const char *from, *to;
    unsigned flags;
};

static int rename_op(void *arg)
{
    struct rename_args *a = arg;
    return renameat2(shmfs.dirfd, a->from, shmfs.dirfd, a->to, a->flags) < 0
               ? -errno
               : 0;
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
    struct rename_args a = {name, newname, flags};
    if (err == 0)
        err = cred_run(req, CRED_REMOVE, rename_op, &a);
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
