/*
 * listdir.c - a ShareableList shown as a folder: element files 0..N-1 and
 * .raw (the whole segment, served as a segment file by segfile.c).
 *
 * A folder keeps its list attached (struct list_map) while the kernel knows
 * it: mapping and unmapping per request costs more than the request (an
 * munmap in a threaded process interrupts every CPU it ran on).  Every
 * request still reads the segment itself, so what `cat` prints is what the
 * segment holds at that moment, and a write is one libshmseg store that
 * Python sees at once.  Element text follows shmseg_value_format() /
 * shmseg_value_parse(); this file never looks at the list's bytes itself.
 */
#include "shmfs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long after reading a folder its reader may "remove" element files
 * (see elem_unlink()). */
#define RM_WINDOW_SEC 60

/* A list attached for the requests on its folder (node->map). */
struct list_map {
    shmseg *seg;
    shmseg_list *list;
    void *copy; /* a read-only copy the list wraps, or NULL (see map_new) */
    unsigned users; /* the folder's reference and each request's; shmfs.lock */
    time_t used;    /* CLOCK_MONOTONIC seconds of the last request */
};

/* A map idle this long is dropped (list_maps_sweep()): while the daemon
 * maps a list, shmfsctl counts the daemon's mapping as a use. */
#define MAP_IDLE_SEC 2

static time_t now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_sec;
}

/* What a request holds: the map, and the segment's stat taken for it. */
struct open_list {
    struct list_map *map;
    shmseg_list *list;
    struct stat st;
};

static void map_free(struct list_map *m)
{
    shmseg_list_close(m->list);
    shmseg_close(m->seg);
    free(m->copy);
    free(m);
    shmfs.nmaps--;
}

static void map_put(struct list_map *m)
{
    pthread_mutex_lock(&shmfs.lock);
    bool last = --m->users == 0;
    pthread_mutex_unlock(&shmfs.lock);
    if (last)
        map_free(m);
}

void list_map_drop(struct node *dir)
{
    struct list_map *m = dir->map;
    dir->map = NULL;
    if (m && --m->users == 0)
        map_free(m);
}

static void sweep_one(struct node *n, void *arg)
{
    time_t now = *(time_t *)arg;
    if (n->kind == NODE_LIST && n->map && n->map->users == 1 &&
        now - n->map->used >= MAP_IDLE_SEC)
        list_map_drop(n);
}

void list_maps_sweep(void)
{
    time_t now = now_sec();
    node_foreach_locked(sweep_one, &now);
}

/* Stop using @ol's map for new requests: the list changed under it. */
static void map_forget(struct node *dir, struct open_list *ol)
{
    pthread_mutex_lock(&shmfs.lock);
    if (dir->map == ol->map)
        list_map_drop(dir);
    pthread_mutex_unlock(&shmfs.lock);
}

struct wrap_args {
    void *data;
    size_t size;
    bool writable;
    shmseg_list **list;
    int copy_fd; /* >= 0: data is a copy, read afresh from it at each try */
};

static int read_into(int fd, char *buf, size_t size);

static int wrap_fn(void *arg)
{
    struct wrap_args *a = arg;
    /* A copy caught mid-store would never change: read it again. */
    int err = a->copy_fd >= 0 ? read_into(a->copy_fd, a->data, a->size) : 0;
    return err < 0 ? err
                   : shmseg_list_wrap(a->data, a->size, a->writable, a->list);
}

/*
 * The daemon reads and writes a list through a shared mapping, and tmpfs
 * allocates a page when it is first touched, even by a read: on a full
 * tmpfs, touching a hole (a list written by a program that sized it and
 * wrote only its non-zero bytes) is SIGBUS.  So the holes of the segment
 * @fd are allocated up front (what the first touch would do).  0 when the
 * mapping is safe to touch, else -errno (-ENOSPC: no room for them).
 */
static int fill_holes(int fd, size_t size)
{
    off_t hole = lseek(fd, 0, SEEK_HOLE);
    if (hole < 0 || (size_t)hole >= size)
        return 0; /* no hole (or no SEEK_HOLE: nothing known to fill) */
    int err;
    /* KEEP_SIZE: the segment may have shrunk since it was mapped, and it
     * must not grow back because the daemon looked at it. */
    do /* tmpfs gives up on a pending signal */
        err = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)size) < 0 ? -errno
                                                                    : 0;
    while (err == -EINTR);
    return err;
}

/* The segment @fd's first @size bytes into @buf (read(2) gives a hole's
 * zeros without allocating it).  -EBADMSG when it is shorter now. */
static int read_into(int fd, char *buf, size_t size)
{
    for (size_t done = 0; done < size;) {
        ssize_t r = pread(fd, buf + done, size - done, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EBADMSG;
        done += (size_t)r;
    }
    return 0;
}

/* Attach the list behind folder @dir afresh.  -ENOENT when the name now
 * holds another segment or no list at all. */
static int map_new(struct node *dir, struct list_map **out)
{
    char name[NAME_MAX + 1];
    shmseg *seg;
    shmseg_list *list;
    struct stat st;

    int err = node_name(dir, name);
    if (err < 0)
        return err;
    /* Read-write: a daemon without root may get read-only access only, and
     * then its list handle refuses writes (EBADF). */
    bool writable = true;
    err = shmseg_attach(shmfs.ns, name, 0, &seg);
    if (err == -EACCES) {
        writable = false;
        err = shmseg_attach(shmfs.ns, name, SHMSEG_RDONLY, &seg);
    }
    if (err < 0)
        return err == -ELOOP || err == -ENODEV || err == -EISDIR ? -ENOENT
                                                                 : err;
    if (fstat(shmseg_fd(seg), &st) < 0 || st.st_ino != dir->ino) {
        shmseg_close(seg);
        return -ENOENT;
    }
    /* No room for the holes: the list is read from a copy, for this
     * request only, and stores fail with ENOSPC.  (Any other failure to
     * fill them - a read-only fd, no fallocate - leaves the mapping, whose
     * SIGBUS on a full tmpfs the guard turns into EIO.) */
    void *copy = NULL;
    struct wrap_args a = {shmseg_data(seg), shmseg_size(seg), writable, &list,
                          -1};
    if (a.data && fill_holes(shmseg_fd(seg), a.size) == -ENOSPC) {
        copy = aligned_alloc(8, (a.size + 7) & ~(size_t)7);
        a.data = copy;
        a.writable = false;
        a.copy_fd = shmseg_fd(seg);
        err = copy ? 0 : -ENOMEM;
    }
    if (err == 0)
        err = a.data ? guard_run_patient(wrap_fn, &a) : -EBADMSG;
    struct list_map *m = err == 0 ? malloc(sizeof(*m)) : NULL;
    if (!m) {
        if (err == 0)
            shmseg_list_close(list);
        shmseg_close(seg);
        free(copy);
        return err == -EBADMSG ? -ENOENT : err < 0 ? err : -ENOMEM;
    }
    m->seg = seg;
    m->list = list;
    m->copy = copy;
    m->users = 1;
    shmfs.nmaps++;
    *out = m;
    return 0;
}

/* The list behind folder @dir for one request: the folder's map if the
 * segment still has the size it was attached at, else a new one. */
static int list_attach(struct node *dir, struct open_list *ol)
{
    memset(ol, 0, sizeof(*ol));
    time_t now = now_sec();
    pthread_mutex_lock(&shmfs.lock);
    struct list_map *m = dir->map;
    if (m) {
        m->users++;
        m->used = now;
    }
    pthread_mutex_unlock(&shmfs.lock);
    if (m) {
        if (fstat(shmseg_fd(m->seg), &ol->st) == 0 &&
            (size_t)ol->st.st_size == shmseg_size(m->seg)) {
            ol->map = m;
            ol->list = m->list;
            return 0;
        }
        ol->map = m;
        map_forget(dir, ol);
        map_put(m);
    }
    int err = map_new(dir, &m);
    if (err < 0)
        return err;
    if (fstat(shmseg_fd(m->seg), &ol->st) < 0) {
        err = -errno;
        map_put(m);
        return err;
    }
    pthread_mutex_lock(&shmfs.lock);
    if (!dir->map && !m->copy) { /* keep it for the next requests */
        dir->map = m;
        m->users++;
        m->used = now;
    }
    pthread_mutex_unlock(&shmfs.lock);
    ol->map = m;
    ol->list = m->list;
    return 0;
}

/* Done with @ol; @err is the request's result: a list found damaged (or
 * shrunk: SIGBUS) is attached afresh by the next request. */
static void list_detach(struct node *dir, struct open_list *ol, int err)
{
    if (err == -EIO || err == -EBADMSG)
        map_forget(dir, ol);
    map_put(ol->map);
}

/* --- element text ----------------------------------------------------------- */

struct text_args {
    shmseg_list *list;
    size_t index;
    char *buf;
    size_t cap;
    ssize_t len;
};

static int get_text_fn(void *arg)
{
    struct text_args *a = arg;
    a->len = shmseg_list_get_text(a->list, a->index, a->buf, a->cap);
    return a->len < 0 ? (int)a->len : 0;
}

/* Fill @a, waiting out a CPython store in progress (guard_run_patient()).
 * CPython writes an element's type code before its value, so a str
 * element can show for a moment the bytes of the value it replaces, which
 * need not be UTF-8: an EILSEQ is waited out as well. */
static int get_text(struct text_args *a)
{
    unsigned attempt = 0;
    int err;
    do
        err = guard_run(get_text_fn, a);
    while ((err == -EBADMSG || err == -EILSEQ) && transient_retry(attempt++));
    return err == -EBADMSG ? -EIO : err;
}

/* Element @i's text into *@buf (malloc'd, grown as needed; *@cap bytes).
 * Returns its length or -errno. */

static ssize_t elem_text(shmseg_list *list, size_t i, char **buf, size_t *cap)
{
    for (;;) {
        struct text_args a = {list, i, *buf, *cap, 0};
        int err = get_text(&a);
        if (err < 0)
            return err;
        if ((size_t)a.len <= *cap)
            return a.len;
        /* Longer than the buffer (another process may lengthen it again
         * before the next try: loop). */
        char *nb = realloc(*buf, (size_t)a.len);
        if (!nb)
            return -ENOMEM;
        *buf = nb;
        *cap = (size_t)a.len;
    }
}

/* The length of element @i's text, without keeping it. */
static ssize_t elem_text_len(shmseg_list *list, size_t i)
{
    char small[64];
    struct text_args a = {list, i, small, sizeof(small), 0};
    int err = get_text(&a);
    return err < 0 ? err : a.len;
}

/*
 * st_ino for folders and element files: distinct from every segment's
 * (tools like du and tar take equal inode numbers for hard links).  The top
 * bit marks them; the list's inode number and the element index share the
 * rest, 24 bits for the index (the folder takes the all-ones index), so
 * element numbers repeat only past 16 million elements.
 */
#define INDEX_BITS 24
#define INDEX_MASK ((1ull << INDEX_BITS) - 1)

static ino_t elem_ino(ino_t list_ino, size_t index)
{
    return (ino_t)((1ull << 63) | ((uint64_t)list_ino << INDEX_BITS) |
                   ((uint64_t)index % INDEX_MASK));
}

ino_t list_folder_ino(ino_t ino)
{
    return (ino_t)((1ull << 63) | ((uint64_t)ino << INDEX_BITS) | INDEX_MASK);
}

void elem_attr(const struct stat *seg, ino_t list_ino, size_t index,
               size_t len, struct stat *attr)
{
    *attr = *seg;
    attr->st_ino = elem_ino(list_ino, index);
    attr->st_mode = S_IFREG | (seg->st_mode & 0666);
    attr->st_nlink = 1;
    attr->st_size = (off_t)len;
    attr->st_blocks = 0;
}

/* "0", "17": an index without sign or leading zeros, below @n. */
static int parse_index(const char *name, size_t n, size_t *out)
{
    size_t i = 0;
    if (!*name || (name[0] == '0' && name[1]))
        return -ENOENT;
    for (const char *p = name; *p; p++) {
        if (*p < '0' || *p > '9' || i > (SIZE_MAX - 9) / 10)
            return -ENOENT;
        i = i * 10 + (size_t)(*p - '0');
    }
    if (i >= n)
        return -ENOENT;
    *out = i;
    return 0;
}

/* --- the folder ------------------------------------------------------------- */

void list_lookup(fuse_req_t req, struct node *dir, const char *name)
{
    struct open_list ol;
    struct stat attr;
    size_t i = 0;

    int err = list_attach(dir, &ol);
    if (err < 0) {
        fuse_reply_err(req, -err);
        return;
    }
    struct node *n = NULL;
    if (strcmp(name, ".raw") == 0) {
        attr = ol.st;
        n = node_get(NODE_RAW, dir->ino, 0, NULL, dir);
        if (n)
            node_shown(n, &ol.st, false);
    } else if ((err = parse_index(name, shmseg_list_len(ol.list), &i)) == 0) {
        ssize_t len = elem_text_len(ol.list, i);
        if (len < 0)
            err = (int)len;
        else {
            elem_attr(&ol.st, dir->ino, i, (size_t)len, &attr);
            n = node_get(NODE_ELEMENT, dir->ino, i, NULL, dir);
        }
    }
    list_detach(dir, &ol, err);
    if (err < 0)
        fuse_reply_err(req, -err);
    else if (!n)
        fuse_reply_err(req, ENOMEM);
    else
        reply_entry(req, n, &attr);
}

void list_getattr(fuse_req_t req, struct node *n)
{
    struct open_list ol;
    struct stat attr;

    int err = list_attach(n->list, &ol);
    if (err < 0) {
        fuse_reply_err(req, -err);
        return;
    }
    ssize_t len = n->index < shmseg_list_len(ol.list)
                      ? elem_text_len(ol.list, n->index)
                      : -ENOENT;
    if (len >= 0)
        elem_attr(&ol.st, n->ino, n->index, (size_t)len, &attr);
    list_detach(n->list, &ol, (int)len);
    if (len < 0)
        fuse_reply_err(req, (int)-len);
    else
        fuse_reply_attr(req, &attr, 0);
}

void list_setattr(fuse_req_t req, struct node *n, struct stat *attr,
                  int to_set)
{
    (void)attr;
    /* Truncation to 0 is how a shell's `>` opens a file: the element keeps
     * its value until the write.  Nothing else of an element can change. */
    if (to_set & ~FUSE_SET_ATTR_SIZE)
        fuse_reply_err(req, EPERM);
    else if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != 0)
        fuse_reply_err(req, EINVAL);
    else
        list_getattr(req, n);
}

void list_opendir(fuse_req_t req, struct node *dir, struct fuse_file_info *fi)
{
    struct open_list ol;
    const struct fuse_ctx *ctx = fuse_req_ctx(req);

    int err = list_attach(dir, &ol);
    if (err < 0) {
        fuse_reply_err(req, -err);
        return;
    }
    size_t n = shmseg_list_len(ol.list);
    list_detach(dir, &ol, 0);
    struct dir_handle *d = dir_handle_new(n);
    if (!d) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    pthread_mutex_lock(&shmfs.lock);
    dir->rm_pid = ctx->pid;
    clock_gettime(CLOCK_MONOTONIC, &dir->rm_time);
    pthread_mutex_unlock(&shmfs.lock);
    fi->fh = (uint64_t)(uintptr_t)d;
    if (fuse_reply_open(req, fi) != 0)
        dir_handle_free(d);
}

void list_readdir(fuse_req_t req, struct node *dir, size_t size, off_t off,
                  struct fuse_file_info *fi, bool plus)
{
    struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
    struct open_list ol;
    char name[32];
    size_t used = 0;
    char *buf = malloc(size);

    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int err = list_attach(dir, &ol);
    if (err < 0) {
        free(buf);
        fuse_reply_err(req, -err);
        return;
    }
    size_t count = d->nelem < shmseg_list_len(ol.list)
                       ? d->nelem
                       : shmseg_list_len(ol.list);
    /* ".", "..", ".raw", then the elements. */
    for (size_t k = (size_t)off; k < count + 3; k++) {
        struct stat attr;
        struct node *n = NULL;
        if (k < 2) {
            memset(&attr, 0, sizeof(attr));
            attr.st_mode = S_IFDIR;
            strcpy(name, k == 0 ? "." : "..");
        } else if (k == 2) {
            attr = ol.st;
            strcpy(name, ".raw");
        } else {
            ssize_t len = elem_text_len(ol.list, k - 3);
            if (len < 0)
                len = 0; /* damaged since opendir: shown, reads fail */
            elem_attr(&ol.st, dir->ino, k - 3, (size_t)len, &attr);
            snprintf(name, sizeof(name), "%zu", k - 3);
        }
        if (used + dir_entry_size(req, name, plus) > size)
            break;
        if (plus && k >= 2) {
            n = node_get(k == 2 ? NODE_RAW : NODE_ELEMENT, dir->ino,
                         k == 2 ? 0 : k - 3, NULL, dir);
            if (!n)
                break;
            if (k == 2)
                node_shown(n, &ol.st, false);
        }
        used += dir_add(req, buf + used, size - used, name, n, &attr,
                        (off_t)(k + 1), plus);
    }
    list_detach(dir, &ol, 0);
    fuse_reply_buf(req, buf, used);
    free(buf);
}

/* --- element files ---------------------------------------------------------- */

/* An open element file: the text read at open (or at the last read from
 * offset 0), and what was written so far. */
struct elem_file {
    struct handle h; /* first: fi->fh points here too */
    /* Reads of one open file may run at once (direct I/O): they share the
     * text and the written bytes. */
    pthread_mutex_t lock;
    char *text;
    size_t len, cap;
    char *in;
    size_t in_len, in_cap;
};

/* Read the element's text afresh into @f.  A read that fails (halfway,
 * too: a fault in the middle of the copy) leaves the text @f had, so a
 * later read further in never mixes the two. */
static int elem_refresh(struct node *n, struct elem_file *f)
{
    struct open_list ol;
    int err = list_attach(n->list, &ol);
    if (err < 0)
        return err == -ENOENT ? -EIO : err;
    size_t cap = f->cap;
    char *text = cap ? malloc(cap) : NULL;
    ssize_t len = cap && !text ? -ENOMEM
                  : n->index < shmseg_list_len(ol.list)
                      ? elem_text(ol.list, n->index, &text, &cap)
                      : -EIO;
    list_detach(n->list, &ol, (int)len);
    if (len < 0) {
        free(text);
        return (int)len;
    }
    free(f->text);
    f->text = text;
    f->cap = cap;
    f->len = (size_t)len;
    return 0;
}

static void elem_file_destroy(struct handle *h)
{
    struct elem_file *f = (struct elem_file *)h;
    pthread_mutex_destroy(&f->lock);
    free(f->text);
    free(f->in);
    free(f);
}

void elem_open(fuse_req_t req, struct node *n, struct fuse_file_info *fi)
{
    struct elem_file *f = calloc(1, sizeof(*f));
    if (!f) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    pthread_mutex_init(&f->lock, NULL);
    /* Read at open, so an open on a damaged list fails early. */
    int err = (fi->flags & O_ACCMODE) != O_WRONLY ? elem_refresh(n, f) : 0;
    if (err < 0) {
        elem_file_destroy(&f->h);
        fuse_reply_err(req, -err);
        return;
    }
    handle_track(&f->h, elem_file_destroy);
    fi->fh = (uint64_t)(uintptr_t)f;
    /* No page cache: every read comes here, so no stale text. */
    fi->direct_io = 1;
    fi->keep_cache = 0;
    if (fuse_reply_open(req, fi) != 0) {
        handle_untrack(&f->h);
        elem_file_destroy(&f->h);
    }
}

void elem_read(fuse_req_t req, struct node *n, size_t size, off_t off,
               struct fuse_file_info *fi)
{
    struct elem_file *f = (struct elem_file *)(uintptr_t)fi->fh;
    char small[256], *copy = small;
    size_t take = 0;
    int err = 0;

    pthread_mutex_lock(&f->lock);
    if (off == 0)
        err = elem_refresh(n, f);
    if (err == 0 && (size_t)off < f->len) {
        take = f->len - (size_t)off < size ? f->len - (size_t)off : size;
        /* Reply from a copy, outside the lock: once the kernel has the
         * reply the reader may close, and the release frees f->text. */
        if (take > sizeof(small) && !(copy = malloc(take)))
            err = -ENOMEM;
        else
            memcpy(copy, f->text + off, take);
    }
    pthread_mutex_unlock(&f->lock);
    if (err < 0)
        fuse_reply_err(req, -err);
    else
        fuse_reply_buf(req, copy, take);
    if (copy != small)
        free(copy);
}

struct set_args {
    shmseg_list *list;
    size_t index;
    const char *text;
    size_t len;
};

static int set_text_fn(void *arg)
{
    struct set_args *a = arg;
    return shmseg_list_set_text(a->list, a->index, a->text, a->len);
}

/* Add @size bytes at @off to what was written to @f, then parse and store
 * all of it.  @f locked. */
static int elem_store(struct node *n, struct elem_file *f, const char *buf,
                      size_t size, size_t off)
{
    struct open_list ol;
    size_t end = off + size;
    if (end > f->in_cap) {
        char *nb = realloc(f->in, end);
        if (!nb)
            return -ENOMEM;
        f->in = nb;
        f->in_cap = end;
    }
    if (off > f->in_len)
        memset(f->in + f->in_len, 0, off - f->in_len);
    memcpy(f->in + off, buf, size);
    if (end > f->in_len)
        f->in_len = end;

    int err = list_attach(n->list, &ol);
    if (err == 0) {
        struct set_args a = {ol.list, n->index, f->in, f->in_len};
        err = n->index >= shmseg_list_len(ol.list) ? -EIO
              : ol.map->copy                         ? -ENOSPC /* map_new */
                             : guard_run_patient(set_text_fn, &a);
        list_detach(n->list, &ol, err);
    }
    return err == -EBADMSG || err == -ENOENT ? -EIO : err;
}

/*
 * The text written so far (from offset 0) is parsed and stored at every
 * write, so the writer sees EINVAL / EFBIG / ERANGE from write(2) itself
 * (a shell prints it, and $? says so); the element keeps its old value.
 */
void elem_write(fuse_req_t req, struct node *n, const char *buf, size_t size,
                off_t off, struct fuse_file_info *fi)
{
    struct elem_file *f = (struct elem_file *)(uintptr_t)fi->fh;
    size_t end = (size_t)off + size;

    if (off < 0 || end < size || end > SHMSEG_LIST_MAX_SLOT + 1) {
        fuse_reply_err(req, EFBIG);
        return;
    }
    pthread_mutex_lock(&f->lock);
    int err = elem_store(n, f, buf, size, (size_t)off);
    pthread_mutex_unlock(&f->lock);
    if (err < 0)
        fuse_reply_err(req, -err);
    else
        fuse_reply_write(req, size);
}

void elem_release(fuse_req_t req, struct fuse_file_info *fi)
{
    struct elem_file *f = (struct elem_file *)(uintptr_t)fi->fh;
    handle_untrack(&f->h);
    elem_file_destroy(&f->h);
    fuse_reply_err(req, 0);
}

/*
 * A list has a fixed length: removing an element is refused (EPERM).  But
 * `rm -r DIR` removes a folder's entries before the folder, and stops at the
 * first refusal; so the process that read the folder in the last minute may
 * "remove" its elements (nothing changes) and then rmdir the folder, which
 * destroys the segment.
 */
void elem_unlink(fuse_req_t req, struct node *dir, const char *name)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&shmfs.lock);
    /* pid 0: a caller in another pid namespace, not known to be the one. */
    bool reader = ctx->pid != 0 && dir->rm_pid == ctx->pid &&
                  now.tv_sec - dir->rm_time.tv_sec < RM_WINDOW_SEC;
    pthread_mutex_unlock(&shmfs.lock);
    size_t i;
    bool element = strcmp(name, ".raw") == 0 || parse_index(name, SIZE_MAX, &i) == 0;
    fuse_reply_err(req, !element ? ENOENT : reader ? 0 : EPERM);
}

struct xattr_args {
    shmseg_list *list;
    size_t index;
    bool type; /* else the format */
    char *buf;
    size_t cap;
    ssize_t len;
};

static int xattr_fn(void *arg)
{
    struct xattr_args *a = arg;
    enum shmseg_type t;
    if (!a->type)
        a->len = shmseg_list_format(a->list, a->buf, a->cap);
    else if ((a->len = shmseg_list_type(a->list, a->index, &t)) == 0)
        a->len = snprintf(a->buf, a->cap, "%s", shmseg_type_name(t));
    return a->len < 0 ? (int)a->len : 0;
}

ssize_t list_xattr(struct node *n, const char *attr, char *buf, size_t cap)
{
    struct open_list ol;
    bool type = n->kind == NODE_ELEMENT &&
                strcmp(attr, "user.shmfs.type") == 0;
    bool format = n->kind == NODE_LIST &&
                  strcmp(attr, "user.shmfs.format") == 0;
    if (!type && !format)
        return -ENODATA;
    struct node *dir = type ? n->list : n;
    int err = list_attach(dir, &ol);
    if (err < 0)
        return err;
    struct xattr_args a = {ol.list, n->index, type, buf, cap, 0};
    err = guard_run_patient(xattr_fn, &a);
    list_detach(dir, &ol, err);
    if (err < 0)
        return err == -EBADMSG ? -EIO : err;
    return a.len;
}
