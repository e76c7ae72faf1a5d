/*
 * segment.c - named shared-memory segments in a namespace directory.
 *
 * A segment is a regular file in a directory (/dev/shm by default, the one
 * shm_open() uses).  Everything is opened relative to the namespace's
 * directory fd with O_NOFOLLOW, so a symlink planted in the directory is never
 * followed, and O_NONBLOCK, so a FIFO planted there never blocks us.
 */
#include "shmseg.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

struct shmseg_ns {
    int dirfd;
    char path[]; /* as given to shmseg_ns_open() */
};

struct shmseg {
    int fd;
    bool writable;
    bool pinned; /* a list lives in the mapping: it must not move */
    void *data;
    size_t size;
    char name[]; /* canonical: no leading '/' */
};

/* How often a generated name is retried after EEXIST before giving up. */
#define GENERATED_NAME_TRIES 64

/* Open flags common to every segment open. */
#define SEG_OPEN_FLAGS (O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)

int shmseg_ns_open(const char *dir, shmseg_ns **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!dir)
        dir = SHMSEG_DEFAULT_DIR;

    size_t len = strlen(dir);
    shmseg_ns *ns = malloc(sizeof(*ns) + len + 1);
    if (!ns)
        return -ENOMEM;
    memcpy(ns->path, dir, len + 1);
    ns->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ns->dirfd < 0) {
        int err = -errno;
        free(ns);
        return err;
    }
    *out = ns;
    return 0;
}

void shmseg_ns_close(shmseg_ns *ns)
{
    if (!ns)
        return;
    close(ns->dirfd);
    free(ns);
}

const char *shmseg_ns_path(const shmseg_ns *ns)
{
    return ns ? ns->path : SHMSEG_DEFAULT_DIR;
}

int shmseg_name_check(const char *name)
{
    if (!name)
        return -EINVAL;
    if (name[0] == '/')
        name++;
    size_t len = strnlen(name, NAME_MAX + 1);
    if (len == 0)
        return -EINVAL;
    if (len > NAME_MAX)
        return -ENAMETOOLONG;
    if (strchr(name, '/'))
        return -EINVAL;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return -EINVAL;
    return (int)len;
}

/*
 * A directory fd and a path relative to it for segment @name.  With the
 * default namespace (NULL) the path is absolute in @buf; otherwise it is the
 * canonical name itself.  Returns the canonical name length or an error.
 */
static int seg_path(const shmseg_ns *ns, const char *name, int *dirfd,
                    const char **path, char buf[static PATH_MAX])
{
    int len = shmseg_name_check(name);
    if (len < 0)
        return len;
    if (name[0] == '/')
        name++;
    if (ns) {
        *dirfd = ns->dirfd;
        *path = name;
    } else {
        *dirfd = AT_FDCWD;
        snprintf(buf, PATH_MAX, "%s/%s", SHMSEG_DEFAULT_DIR, name);
        *path = buf;
    }
    return len;
}

/* The errno for a file that exists but is not a segment. */
static int not_a_segment(mode_t mode)
{
    if (S_ISDIR(mode))
        return -EISDIR;
    if (S_ISLNK(mode))
        return -ELOOP;
    return -ENODEV;
}

void shmseg__info_from_stat(struct shmseg_info *info, const struct stat *st)
{
    info->size = (uint64_t)st->st_size;
    info->mode = st->st_mode & 07777;
    info->uid = st->st_uid;
    info->gid = st->st_gid;
    info->atime = st->st_atim;
    info->mtime = st->st_mtim;
    info->ctime = st->st_ctim;
    info->dev = (uint64_t)st->st_dev;
    info->ino = (uint64_t)st->st_ino;
}

/* Map @size bytes of @fd; size 0 maps nothing. */
static int map_fd(int fd, size_t size, bool writable, void **data)
{
    *data = NULL;
    if (size == 0)
        return 0;
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    void *p = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    *data = p;
    return 0;
}

static shmseg *seg_alloc(const char *name, size_t len)
{
    shmseg *seg = malloc(sizeof(*seg) + len + 1);
    if (!seg)
        return NULL;
    memcpy(seg->name, name, len);
    seg->name[len] = '\0';
    seg->fd = -1;
    seg->data = NULL;
    seg->size = 0;
    seg->writable = false;
    seg->pinned = false;
    return seg;
}

/* Fill @name (SHMSEG_GENERATED_NAME_LEN + 1 bytes) with "psm_" + 8 hex. */
static int generate_name(char *name)
{
    uint32_t r;
    ssize_t n;

    do {
        n = getrandom(&r, sizeof(r), 0);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(r))
        return n < 0 ? -errno : -EIO;
    snprintf(name, SHMSEG_GENERATED_NAME_LEN + 1, "psm_%08x", (unsigned)r);
    return 0;
}

/* Create the file for @name exclusively; returns an fd or an error. */
static int create_file(const shmseg_ns *ns, const char *name, mode_t mode)
{
    char buf[PATH_MAX];
    const char *path;
    int dirfd;
    int err = seg_path(ns, name, &dirfd, &path, buf);
    if (err < 0)
        return err;
    int fd = openat(dirfd, path, O_RDWR | O_CREAT | O_EXCL | SEG_OPEN_FLAGS,
                    mode & 07777);
    return fd < 0 ? -errno : fd;
}

int shmseg_create(const shmseg_ns *ns, const char *name, size_t size,
                  mode_t mode, shmseg **out)
{
    char gen[SHMSEG_GENERATED_NAME_LEN + 1];
    int fd = -EEXIST;
    int err;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (size == 0)
        return -EINVAL;
    if (size > (size_t)INT64_MAX)
        return -EFBIG;

    if (name) {
        fd = create_file(ns, name, mode);
    } else {
        for (int tries = 0; fd == -EEXIST && tries < GENERATED_NAME_TRIES;
             tries++) {
            err = generate_name(gen);
            if (err < 0)
                return err;
            fd = create_file(ns, gen, mode);
        }
        name = gen;
    }
    if (fd < 0)
        return fd;

    if (name[0] == '/')
        name++;
    shmseg *seg = seg_alloc(name, strlen(name));
    if (!seg) {
        err = -ENOMEM;
        goto fail_unlink;
    }
    seg->fd = fd;
    seg->writable = true;
    if (ftruncate(fd, (off_t)size) < 0) {
        err = errno == EINVAL ? -EFBIG : -errno;
        goto fail_free;
    }
    err = map_fd(fd, size, true, &seg->data);
    if (err < 0)
        goto fail_free;
    seg->size = size;
    *out = seg;
    return 0;

fail_free:
    free(seg);
fail_unlink:
    /* As Python does: a segment we could not set up is not left behind. */
    shmseg_unlink(ns, name);
    close(fd);
    return err;
}

int shmseg_attach(const shmseg_ns *ns, const char *name, int flags,
                  shmseg **out)
{
    char buf[PATH_MAX];
    const char *path;
    struct stat st;
    int dirfd;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (flags & ~SHMSEG_RDONLY)
        return -EINVAL;
    int len = seg_path(ns, name, &dirfd, &path, buf);
    if (len < 0)
        return len;

    /* Look before opening: opening a FIFO, socket or device has side
     * effects (or fails with its own errno), and none of them is a
     * segment.  The fstat() below catches a swap in between. */
    if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return not_a_segment(st.st_mode);

    bool writable = !(flags & SHMSEG_RDONLY);
    int fd = openat(dirfd, path, (writable ? O_RDWR : O_RDONLY) |
                                     SEG_OPEN_FLAGS);
    if (fd < 0) {
        int err = -errno;
        /* Swapped since the look: ENXIO is an unopenable socket. */
        return err == -ENXIO ? -ENODEV : err;
    }
    int err;
    if (fstat(fd, &st) < 0) {
        err = -errno;
        goto fail_close;
    }
    if (!S_ISREG(st.st_mode)) {
        err = not_a_segment(st.st_mode);
        goto fail_close;
    }
    shmseg *seg = seg_alloc(name[0] == '/' ? name + 1 : name, (size_t)len);
    if (!seg) {
        err = -ENOMEM;
        goto fail_close;
    }
    seg->fd = fd;
    seg->writable = writable;
    err = map_fd(fd, (size_t)st.st_size, writable, &seg->data);
    if (err < 0) {
        free(seg);
        goto fail_close;
    }
    seg->size = (size_t)st.st_size;
    *out = seg;
    return 0;

fail_close:
    close(fd);
    return err;
}

int shmseg_close(shmseg *seg)
{
    int err = 0;

    if (!seg)
        return 0;
    if (seg->data && munmap(seg->data, seg->size) < 0)
        err = -errno;
    if (close(seg->fd) < 0 && err == 0)
        err = -errno;
    free(seg);
    return err;
}

int shmseg_unlink(const shmseg_ns *ns, const char *name)
{
    char buf[PATH_MAX];
    const char *path;
    int dirfd;
    int err = seg_path(ns, name, &dirfd, &path, buf);
    if (err < 0)
        return err;
    /* unlinkat without AT_REMOVEDIR refuses directories (EISDIR) and
     * removes a symlink itself, never its target. */
    if (unlinkat(dirfd, path, 0) < 0)
        return -errno;
    return 0;
}

const char *shmseg_name(const shmseg *seg)
{
    return seg->name;
}

size_t shmseg_size(const shmseg *seg)
{
    return seg->size;
}

void *shmseg_data(const shmseg *seg)
{
    return seg->data;
}

int shmseg_fd(const shmseg *seg)
{
    return seg->fd;
}

/* Move the mapping of @seg to @size bytes (the file already has them). */
static int remap(shmseg *seg, size_t size)
{
    void *p;

    if (size == 0) {
        if (seg->data && munmap(seg->data, seg->size) < 0)
            return -errno;
        seg->data = NULL;
        return 0;
    }
    if (!seg->data)
        return map_fd(seg->fd, size, true, &seg->data);
    p = mremap(seg->data, seg->size, size, MREMAP_MAYMOVE);
    if (p == MAP_FAILED)
        return -errno;
    seg->data = p;
    return 0;
}

int shmseg_resize(shmseg *seg, size_t size)
{
    if (!seg)
        return -EINVAL;
    if (!seg->writable)
        return -EBADF;
    if (seg->pinned)
        return -EBUSY;
    if (size > (size_t)INT64_MAX)
        return -EFBIG;
    if (size == seg->size)
        return 0;
    if (ftruncate(seg->fd, (off_t)size) < 0)
        return errno == EINVAL ? -EFBIG : -errno;
    int err = remap(seg, size);
    if (err < 0) {
        /* Put the file back to the size our mapping still describes. */
        if (ftruncate(seg->fd, (off_t)seg->size) < 0)
            err = -errno;
        return err;
    }
    seg->size = size;
    return 0;
}

int shmseg_stat(const shmseg_ns *ns, const char *name,
                struct shmseg_info *out)
{
    char buf[PATH_MAX];
    const char *path;
    struct stat st;
    int dirfd;

    if (!out)
        return -EINVAL;
    int err = seg_path(ns, name, &dirfd, &path, buf);
    if (err < 0)
        return err;
    if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return not_a_segment(st.st_mode);
    shmseg__info_from_stat(out, &st);
    return 0;
}

/* True for directory entries that can never be segments. */
static bool skip_entry(const struct dirent *de)
{
    if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
        return true;
    /* glibc keeps POSIX named semaphores here as "sem.NAME". */
    return strncmp(de->d_name, "sem.", 4) == 0 ||
           strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
}

int shmseg_foreach(const shmseg_ns *ns, shmseg_foreach_cb cb, void *arg)
{
    struct shmseg_info info;
    struct dirent *de;
    struct stat st;
    int err = 0;

    if (!cb)
        return -EINVAL;
    /* A fresh fd per scan: readdir position is per open file, and the
     * namespace may be shared by threads scanning at once. */
    int fd = openat(ns ? ns->dirfd : AT_FDCWD, ns ? "." : SHMSEG_DEFAULT_DIR,
                    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *dir = fdopendir(fd);
    if (!dir) {
        err = -errno;
        close(fd);
        return err;
    }
    for (;;) {
        errno = 0;
        de = readdir(dir);
        if (!de) {
            err = -errno;
            break;
        }
        if (skip_entry(de))
            continue;
        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue; /* unlinked while we scanned */
            err = -errno;
            break;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        shmseg__info_from_stat(&info, &st);
        err = cb(de->d_name, &info, arg);
        if (err)
            break;
    }
    closedir(dir);
    return err;
}

void shmseg__pin(shmseg *seg)
{
    seg->pinned = true;
}
