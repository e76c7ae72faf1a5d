/*
 * rootdir.c - the mount's top level as a folder: the names of the shm
 * directory (regular files only, no semaphores), each shown as a segment
 * file or a list folder; and the readdir helpers list folders share.
 */
#include "shmfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
        entry_timeouts(n, &e);
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
            enum node_kind kind;
            if (seg_stat(name, &st) < 0)
                continue; /* gone since opendir */
            /* A listing of thousands of segments need not open each one
             * the kernel was told about a moment ago. */
            bool known = node_recent_kind(&st, &kind);
            if (!known && seg_classify(name, &st, true, &kind) < 0)
                continue;
            seg_attr(kind, &st, &attr);
            if (plus && !(n = node_get(kind, st.st_ino, 0, name, NULL))) {
                err = -ENOMEM;
                break;
            }
            if (n)
                node_shown(n, &st, !known);
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
