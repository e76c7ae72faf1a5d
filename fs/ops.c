/*
 * ops.c - the FUSE op table.  Each op finds the node and hands the request
 * to the file that owns that node kind: segfile.c (the root, segment files,
 * .raw), listdir.c (list folders, element files).  What no kind supports is
 * refused here.
 */
#include "shmfs.h"
#include "compat.h"
#include "uring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

void entry_timeouts(const struct node *n, struct fuse_entry_param *e)
{
    e->entry_timeout = shmfs.timeout;
    /* An element's size is its text's, which any process may change. */
    e->attr_timeout = n->kind == NODE_ELEMENT ? 0 : shmfs.timeout;
}

void reply_entry(fuse_req_t req, struct node *n, const struct stat *attr)
{
    struct fuse_entry_param e;
    memset(&e, 0, sizeof(e));
    e.ino = node_id(n);
    e.attr = *attr;
    entry_timeouts(n, &e);
    if (fuse_reply_entry(req, &e) != 0)
        node_forget(n, 1); /* the kernel never got the reference */
}

#define CAP_SYS_ADMIN_BIT 21 /* <linux/capability.h> */

static bool is_file(const struct node *n)
{
    return n->kind == NODE_SEGMENT || n->kind == NODE_RAW;
}

/* Registering a backing file needs CAP_SYS_ADMIN: know it before the first
 * open, so user.shmfs.passthrough is right from the start. */
static bool has_cap_sys_admin(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    unsigned long long eff = 0;
    bool found = false;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "CapEff: %llx", &eff) == 1) {
            found = true;
            break;
        }
    if (f)
        fclose(f);
    return found && (eff & (1ull << CAP_SYS_ADMIN_BIT));
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
        conn->want |= FUSE_CAP_PARALLEL_DIROPS;
    /* Every readdir is a readdirplus: `ls -l` and the like then find every
     * entry and its attributes cached, instead of one lookup each. */
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    /* (killpriv v2 in any case: without default_permissions the kernel
     * would otherwise clear set-ID bits with a chmod in the writer's
     * name, which a writer who does not own the file may not make) */
    bool offered = compat_init(conn, !shmfs.no_passthrough);
    if (shmfs.no_passthrough)
        return;
    if (!offered)
        shmfs_log("the kernel does not offer FUSE passthrough: read, write "
                  "and mmap go through the daemon (mmap sees a copy)");
    else if (!has_cap_sys_admin())
        shmfs_log("FUSE passthrough needs CAP_SYS_ADMIN (run as root): read, "
                  "write and mmap go through the daemon (mmap sees a copy)");
    else
        shmfs.passthrough = true;
}

typedef int check_fn(fuse_req_t req, const struct stat *attr, int mask);

/* Search permission on the folders above @n (a list folder above its
 * elements and .raw, then the root): 0 or -errno.  @folder: the list
 * folder's attributes when the caller has them already, else NULL. */
static int folders_above(fuse_req_t req, struct node *n,
                         const struct stat *folder, check_fn *check)
{
    if (n->kind == NODE_ROOT)
        return 0;
    struct stat attr;
    int err = 0;
    if (n->list) {
        if (!folder && (err = seg_shown_attr(req, n->list, &attr, NULL)) == 0)
            folder = &attr;
        if (err == 0)
            err = check(req, folder, X_OK);
    }
    if (err == 0)
        err = seg_shown_attr(req, &shmfs.root, &attr, NULL);
    return err == 0 ? check(req, &attr, X_OK) : err;
}

/*
 * Without default_permissions (shmfs.own_checks), check @mask for the
 * caller on @n as the kernel would have, with @check; reply with the
 * refusal, and return false, when it fails.  The kernel would also have
 * checked search permission on the folders above @n on its way there: a
 * name it has cached needs no lookup, so that is checked here, for every
 * request that names @n.
 */
static bool check_as(fuse_req_t req, struct node *n, int mask,
                     check_fn *check)
{
    if (!shmfs.own_checks)
        return true;
    struct stat attr, folder;
    int err = seg_shown_attr(req, n, &attr, &folder);
    if (err == 0)
        err = check(req, &attr, mask);
    if (err == 0)
        err = folders_above(req, n, n->list ? &folder : NULL, check);
    if (err < 0)
        fuse_reply_err(req, -err);
    return err == 0;
}

static bool permitted(fuse_req_t req, struct node *n, int mask)
{
    return check_as(req, n, mask, perm_check);
}

/* Creating or removing a name: write and search permission on its folder. */
#define DIR_CHANGE (W_OK | X_OK)

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct node *p = node_of(parent);
    if (!permitted(req, p, X_OK))
        return;
    if (strlen(name) > NAME_MAX) /* in every folder, as local filesystems */
        fuse_reply_err(req, ENAMETOOLONG);
    else if (p->kind == NODE_ROOT)
        seg_lookup(req, name);
    else if (p->kind == NODE_LIST)
        list_lookup(req, p, name);
    else
        fuse_reply_err(req, ENOTDIR);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    node_forget(node_of(ino), nlookup);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
                            struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        node_forget(node_of(forgets[i].ino), forgets[i].nlookup);
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
    struct node *n = node_of(ino);
    struct stat st;

    /* stat(2) needs search permission on the way there.  (fstat(2) sends
     * no file handle either, so it is held to the same.) */
    if (shmfs.own_checks && !fi) {
        int err = folders_above(req, n, NULL, perm_check);
        if (err < 0) {
            fuse_reply_err(req, -err);
            return;
        }
    }
    switch (n->kind) {
    case NODE_ROOT:
        if (fstat(shmfs.dirfd, &st) < 0)
            fuse_reply_err(req, errno);
        else
            fuse_reply_attr(req, &st, shmfs.timeout);
        break;
    case NODE_ELEMENT:
        list_getattr(req, n);
        break;
    default: /* even with @fi: segment files keep their fd in the node */
        seg_getattr(req, n);
    }
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                       int to_set, struct fuse_file_info *fi)
{
    struct node *n = node_of(ino);
    /* ftruncate(2), the one setattr with @fi, takes no path and had its
     * right at the open: nothing to check (most setattrs: every create
     * with ftruncate); the set-ID bits it clears are the daemon's to. */
    int checked = to_set & ~(FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID |
                             (fi ? FUSE_SET_ATTR_SIZE : 0));
    if (shmfs.own_checks && checked) {
        struct stat cur, folder;
        int err = seg_shown_attr(req, n, &cur, &folder);
        if (err == 0 && !fi)
            err = folders_above(req, n, n->list ? &folder : NULL, perm_check);
        if (err == 0)
            err = perm_setattr(req, &cur, attr, checked);
        if (err < 0) {
            fuse_reply_err(req, -err);
            return;
        }
    }
    if (n->kind == NODE_ROOT)
        fuse_reply_err(req, EPERM);
    else if (n->kind == NODE_ELEMENT)
        list_setattr(req, n, attr, to_set);
    else
        seg_setattr(req, n, attr, to_set);
}

/* mkdir, mknod, symlink, link: a namespace of segments has none of these. */
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode, dev_t rdev)
{
    (void)name, (void)mode, (void)rdev;
    if (permitted(req, node_of(parent), DIR_CHANGE))
        fuse_reply_err(req, EPERM);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode)
{
    (void)name, (void)mode;
    if (permitted(req, node_of(parent), DIR_CHANGE))
        fuse_reply_err(req, EPERM);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                       const char *name)
{
    (void)link, (void)name;
    if (permitted(req, node_of(parent), DIR_CHANGE))
        fuse_reply_err(req, EPERM);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                    const char *newname)
{
    (void)ino, (void)newname;
    if (permitted(req, node_of(newparent), DIR_CHANGE))
        fuse_reply_err(req, EPERM);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct node *p = node_of(parent);
    if (!permitted(req, p, DIR_CHANGE))
        return;
    if (p->kind == NODE_ROOT)
        seg_unlink(req, name, false);
    else
        elem_unlink(req, p, name);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (!permitted(req, node_of(parent), DIR_CHANGE))
        return;
    if (node_of(parent)->kind == NODE_ROOT)
        seg_unlink(req, name, true);
    else
        fuse_reply_err(req, ENOTDIR);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                      fuse_ino_t newparent, const char *newname,
                      unsigned int flags)
{
    if (!permitted(req, node_of(parent), DIR_CHANGE) ||
        (newparent != parent &&
         !permitted(req, node_of(newparent), DIR_CHANGE)))
        return;
    if (node_of(parent)->kind == NODE_ROOT &&
        node_of(newparent)->kind == NODE_ROOT)
        seg_rename(req, name, newname, flags);
    else
        fuse_reply_err(req, EPERM); /* elements have fixed names */
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                      mode_t mode, struct fuse_file_info *fi)
{
    if (!permitted(req, node_of(parent), DIR_CHANGE))
        return;
    if (node_of(parent)->kind == NODE_ROOT)
        seg_create(req, name, mode, fi);
    else
        fuse_reply_err(req, EPERM); /* a list has a fixed length */
}

/* __FMODE_EXEC (include/linux/fs.h): in the flags of an open for exec. */
#define K_FMODE_EXEC 040

/* What an open with @flags needs (the kernel's may_open(); an open for
 * exec needs only execute permission). */
static int open_mask(int flags)
{
    if (flags & K_FMODE_EXEC)
        return X_OK;
    int mask = (flags & O_ACCMODE) == O_RDONLY ? R_OK
               : (flags & O_ACCMODE) == O_WRONLY ? W_OK
                                                 : R_OK | W_OK;
    if (flags & O_TRUNC)
        mask |= W_OK;
    return mask;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct node *n = node_of(ino);
    if (!permitted(req, n, open_mask(fi->flags)))
        return;
    if (is_file(n))
        seg_open_file(req, n, fi);
    else if (n->kind == NODE_ELEMENT)
        elem_open(req, n, fi);
    else
        fuse_reply_err(req, EISDIR);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    struct node *n = node_of(ino);
    if (n->kind == NODE_ELEMENT)
        elem_read(req, n, size, off, fi);
    else
        seg_read(req, n, size, off);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                     size_t size, off_t off, struct fuse_file_info *fi)
{
    struct node *n = node_of(ino);
    if (n->kind == NODE_ELEMENT)
        elem_write(req, n, buf, size, off, fi);
    else
        seg_write(req, n, buf, size, off);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
    struct node *n = node_of(ino);
    if (n->kind == NODE_ELEMENT)
        elem_release(req, fi);
    else
        seg_release(req, n);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                     struct fuse_file_info *fi)
{
    (void)datasync;
    struct node *n = node_of(ino);
    (void)fi;
    if (is_file(n))
        seg_fsync(req, n);
    else
        fuse_reply_err(req, 0); /* element writes are stored at write() */
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
    struct node *n = node_of(ino);
    if (!permitted(req, n, R_OK))
        return;
    if (n->kind == NODE_ROOT)
        root_opendir(req, fi);
    else if (n->kind == NODE_LIST)
        list_opendir(req, n, fi);
    else
        fuse_reply_err(req, ENOTDIR);
}

static void readdir_any(fuse_req_t req, fuse_ino_t ino, size_t size,
                        off_t off, struct fuse_file_info *fi, bool plus)
{
    struct node *n = node_of(ino);
    if (n->kind == NODE_ROOT)
        root_readdir(req, size, off, fi, plus);
    else
        list_readdir(req, n, size, off, fi, plus);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
                       off_t off, struct fuse_file_info *fi)
{
    readdir_any(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
                           off_t off, struct fuse_file_info *fi)
{
    readdir_any(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
                          struct fuse_file_info *fi)
{
    (void)ino;
    dir_releasedir(req, fi);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    seg_statfs(req);
}

/* --- extended attributes ------------------------------------------------------ */

#define XATTR_PREFIX "user.shmfs."

/* The names a node of @kind carries, NUL-separated. */
#define USERS_XATTRS XATTR_PREFIX "mappers\0" XATTR_PREFIX "pids"
static const char SEGMENT_XATTRS[] =
    XATTR_PREFIX "kind\0" XATTR_PREFIX "passthrough\0" USERS_XATTRS;
static const char LIST_XATTRS[] =
    XATTR_PREFIX "kind\0" XATTR_PREFIX "format\0" USERS_XATTRS;
static const char ELEMENT_XATTRS[] =
    XATTR_PREFIX "type\0" XATTR_PREFIX "passthrough";

static const char ROOT_XATTRS[] =
    XATTR_PREFIX "stats\0" XATTR_PREFIX "transport";

static const char *xattr_names(enum node_kind kind, size_t *len)
{
    switch (kind) {
    case NODE_SEGMENT:
    case NODE_RAW:
        *len = sizeof(SEGMENT_XATTRS);
        return SEGMENT_XATTRS;
    case NODE_LIST:
        *len = sizeof(LIST_XATTRS);
        return LIST_XATTRS;
    case NODE_ELEMENT:
        *len = sizeof(ELEMENT_XATTRS);
        return ELEMENT_XATTRS;
    case NODE_ROOT:
        *len = sizeof(ROOT_XATTRS);
        return ROOT_XATTRS;
    }
    *len = 0;
    return "";
}

static bool has_xattr(enum node_kind kind, const char *attr)
{
    size_t len;
    const char *names = xattr_names(kind, &len);
    for (const char *p = names; p < names + len; p += strlen(p) + 1)
        if (strcmp(p, attr) == 0)
            return true;
    return false;
}

/* The value of @attr (which @n carries), snprintf-style (see list_xattr). */
static ssize_t xattr_value(struct node *n, const char *attr, char *buf,
                           size_t cap)
{
    if (strcmp(attr, XATTR_PREFIX "stats") == 0)
        return node_stats(buf, cap);
    if (strcmp(attr, XATTR_PREFIX "transport") == 0)
        return uring_describe(buf, cap);
    if (strcmp(attr, XATTR_PREFIX "kind") == 0)
        return snprintf(buf, cap, "%s",
                        n->kind == NODE_SEGMENT ? "segment" : "list");
    if (strcmp(attr, XATTR_PREFIX "passthrough") == 0)
        return snprintf(buf, cap, "%d",
                        n->kind != NODE_ELEMENT && shmfs.passthrough);
    if (strcmp(attr, XATTR_PREFIX "mappers") == 0 ||
        strcmp(attr, XATTR_PREFIX "pids") == 0)
        return seg_users_xattr(n, attr, buf, cap);
    return list_xattr(n, attr, buf, cap);
}

/* user.* attributes need read (or write) permission, as in the kernel's
 * xattr_permission(). */
static bool is_user_xattr(const char *name)
{
    return strncmp(name, "user.", 5) == 0;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *attr,
                        size_t size)
{
    struct node *n = node_of(ino);
    char small[256], *buf = small;

    if (is_user_xattr(attr) && !permitted(req, n, R_OK))
        return;
    if (!has_xattr(n->kind, attr)) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    ssize_t len = xattr_value(n, attr, buf, sizeof(small));
    if (len >= (ssize_t)sizeof(small) && size > 0) {
        /* Longer than the stack buffer (a long format or pid list). */
        size_t cap = (size_t)len + 1;
        buf = malloc(cap);
        len = buf ? xattr_value(n, attr, buf, cap) : -ENOMEM;
        if (len >= (ssize_t)cap)
            len = -ERANGE; /* grew again meanwhile */
    }
    if (len < 0)
        fuse_reply_err(req, (int)-len);
    else if (size == 0)
        fuse_reply_xattr(req, (size_t)len);
    else if ((size_t)len > size)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, buf, (size_t)len);
    if (buf != small)
        free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    size_t len;
    const char *names = xattr_names(node_of(ino)->kind, &len);
    if (size == 0)
        fuse_reply_xattr(req, len);
    else if (len > size)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, names, len);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                        const char *value, size_t size, int flags)
{
    (void)value, (void)size, (void)flags;
    if (is_user_xattr(name) && !permitted(req, node_of(ino), W_OK))
        return;
    /* Ours are computed, and segments keep no other attributes. */
    fuse_reply_err(req, strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX))
                            ? ENOTSUP
                            : EPERM);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    op_setxattr(req, ino, name, NULL, 0, 0);
}

/* access(2) and chdir(2): the kernel asks only without
 * default_permissions (it checks itself otherwise). */
static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    if (check_as(req, node_of(ino), mask, perm_access))
        fuse_reply_err(req, 0);
}

/* No flush: nothing is buffered at close, and without the op the kernel
 * stops sending FLUSH after the first (one round trip less per close). */
const struct fuse_lowlevel_ops shmfs_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .symlink = op_symlink,
    .link = op_link,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .rename = op_rename,
    .create = op_create,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .statfs = op_statfs,
    .access = op_access,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
};
