/*
 * fuzz_view.c - libFuzzer target: segment bytes -> folder view, along the
 * daemon's own path.
 *
 * shmfs shows a segment as a folder when fs/segfile.c classifies its file as
 * a list (shmseg_list_check_fd(): pread, no mapping).  fs/listdir.c then
 * attaches it (read-write, or read-only when that is all the daemon may do),
 * wraps the mapping (shmseg_list_wrap()) and, per element, calls
 * shmseg_list_get_text() (first into a 64-byte buffer for the length, the
 * stat size; then the whole text, for cat), shmseg_list_type() (the
 * user.shmfs.type xattr) and shmseg_list_format() (the folder's
 * user.shmfs.format); `echo TEXT > DIR/i` is shmseg_list_set_text().  This
 * target does the same, in that order, on a real file of a private
 * directory /dev/shm/shmfs_fuzz_<pid>_XXXXXX (made once, removed at exit).
 *
 * Input format (integers little-endian):
 *   byte 0         flags: bit 0 set = attach read-only (SHMSEG_RDONLY, the
 *                  daemon's fallback when it may only read the segment);
 *                  the other bits are ignored
 *   bytes 1..2     element index k (uint16): the store goes to element
 *                  k % (n + 1) of the list's n elements, so the index one
 *                  past the end is tried too
 *   bytes 3..4     text length L (uint16), clipped to the bytes that follow
 *   next L bytes   the text stored (what `echo` writes, newline included)
 *   the rest       the segment's bytes: the file's whole content
 * Inputs shorter than 5 bytes are skipped.  make_corpus.py wraps the lists
 * CPython writes in this format.
 *
 * Invariants (abort() on violation, with the failed check on stderr):
 *  - the in-memory check of the bytes and the pread check of the file agree
 *    (list or not, and n); a list attaches and wraps, with n elements;
 *  - every element has a type; its text can fail only for a str slot that
 *    is not UTF-8 (-EILSEQ); the length query, the query with no buffer and
 *    the text read all give one length and the same bytes; the text parses
 *    back as the element's type and formats to the same text (what cat
 *    prints, echo accepts unchanged);
 *  - the format has between n and 8n characters, one length however asked;
 *  - the store's result is what a model of it predicts (-EBADF read-only,
 *    -ERANGE past the end, the parse's error, -EFBIG for a str/bytes longer
 *    than its slot, else 0);
 *  - after it the file is still a list of n elements (both checks); a failed
 *    store changed no byte; a successful one changed exactly the bytes the
 *    model writes (CPython's struct packing of the value in that slot) and
 *    reads back as the parsed value (trailing NULs stripped, as CPython
 *    reads), compared as text, so NaN and -0.0 are judged by their repr;
 *  - finally every element's text, written back, is accepted and reads back
 *    unchanged (refused with -EBADF when read-only), and the list stays one.
 */
#include "shmseg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#define HEADER_LEN 5
#define FLAG_RDONLY 0x1
#define SEG_NAME "seg"
/* fs/listdir.c's buffer for the length query (elem_text_len()). */
#define SMALL_TEXT 64

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            violated(#cond, __LINE__);                                       \
    } while (0)

/* One directory and one file for the whole run: a directory per input
 * would cost more than the checks. */
static struct {
    char dir[64];
    char path[80];
    shmseg_ns *ns;
    int fd;
} env = {.fd = -1};

static void env_cleanup(void)
{
    if (env.fd >= 0)
        close(env.fd);
    unlink(env.path);
    rmdir(env.dir);
    shmseg_ns_close(env.ns);
}

static void __attribute__((noreturn)) violated(const char *what, int line)
{
    fprintf(stderr, "fuzz_view.c:%d: invariant violated: %s\n", line, what);
    /* abort() runs no atexit handler: clean up here, as exit would. */
    env_cleanup();
    abort();
}

static void __attribute__((noreturn)) env_fail(const char *what)
{
    fprintf(stderr, "fuzz_view: %s: %s\n", what, strerror(errno));
    exit(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(env.dir, sizeof(env.dir), "/dev/shm/shmfs_fuzz_%ld_XXXXXX",
             (long)getpid());
    if (!mkdtemp(env.dir))
        env_fail(env.dir);
    snprintf(env.path, sizeof(env.path), "%s/%s", env.dir, SEG_NAME);
    atexit(env_cleanup);
    int err = shmseg_ns_open(env.dir, &env.ns);
    if (err < 0) {
        errno = -err;
        env_fail("shmseg_ns_open");
    }
    env.fd = open(env.path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    if (env.fd < 0)
        env_fail(env.path);
    return 0;
}

static void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    CHECK(p != NULL);
    return p;
}

/* --- the input ------------------------------------------------------------ */

struct view_input {
    bool rdonly;
    unsigned index; /* before % (n + 1) */
    char *text;     /* exact-size heap copy: ASan sees reads past it */
    size_t text_len;
    const unsigned char *seg;
    size_t seg_len;
};

static bool split_input(const unsigned char *data, size_t size,
                        struct view_input *in)
{
    if (size < HEADER_LEN)
        return false;
    in->rdonly = data[0] & FLAG_RDONLY;
    in->index = (unsigned)data[1] | (unsigned)data[2] << 8;
    size_t len = (size_t)data[3] | (size_t)data[4] << 8;
    if (len > size - HEADER_LEN)
        len = size - HEADER_LEN;
    in->text = xmalloc(len);
    if (len)
        memcpy(in->text, data + HEADER_LEN, len);
    in->text_len = len;
    in->seg = data + HEADER_LEN + len;
    in->seg_len = size - HEADER_LEN - len;
    return true;
}

/* --- the layout, read independently of the library ------------------------ */

static int64_t load_i64(const unsigned char *p)
{
    int64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Where element @i's slot lies in the segment @seg of a valid list of @n
 * elements: [*from, *from + *slot). */
static void slot_bounds(const unsigned char *seg, size_t n, size_t i,
                        size_t *from, size_t *slot)
{
    int64_t a = load_i64(seg + 8 + 8 * i), b = load_i64(seg + 16 + 8 * i);
    *from = 8 * (n + 2) + (size_t)a;
    *slot = (size_t)(b - a);
}

static bool is_text(enum shmseg_type type)
{
    return type == SHMSEG_STR || type == SHMSEG_BYTES;
}

/* --- what the view shows ---------------------------------------------------- */

/* Both list checks on the file: still a list of @n elements. */
static void check_file_is_list(const shmseg *seg, size_t n)
{
    size_t n_mem = 0, n_fd = 0;
    CHECK(shmseg_list_check(shmseg_data(seg), shmseg_size(seg), &n_mem) == 0);
    CHECK(n_mem == n);
    CHECK(shmseg_list_check_fd(env.fd, &n_fd) == 0);
    CHECK(n_fd == n);
}

/* Element @i's text as stat and cat get it: the length (into the daemon's
 * small buffer), then the text into a buffer of exactly that length.
 * Returns the malloc'd text and its length, or NULL and the error. */
static char *cat_element(const shmseg_list *l, size_t i, size_t *len,
                         int *err)
{
    char small[SMALL_TEXT];
    ssize_t size = shmseg_list_get_text(l, i, small, sizeof(small));
    if (size < 0) {
        *err = (int)size;
        return NULL;
    }
    CHECK(shmseg_list_get_text(l, i, NULL, 0) == size);
    char *text = xmalloc((size_t)size);
    CHECK(shmseg_list_get_text(l, i, text, (size_t)size) == size);
    CHECK((size_t)size > sizeof(small) ||
          memcmp(small, text, (size_t)size) == 0);
    *len = (size_t)size;
    return text;
}

/* @v formatted: exactly @text. */
static void check_formats_as(const struct shmseg_value *v, const char *text,
                             size_t len)
{
    CHECK(shmseg_value_format(v, NULL, 0) == (ssize_t)len);
    char *buf = xmalloc(len);
    CHECK(shmseg_value_format(v, buf, len) == (ssize_t)len);
    CHECK(memcmp(buf, text, len) == 0);
    free(buf);
}

/* What cat printed, echo takes unchanged. */
static void check_reparses(enum shmseg_type type, const char *text,
                           size_t len)
{
    struct shmseg_value v;
    CHECK(shmseg_value_parse(type, text, len, &v) == 0);
    check_formats_as(&v, text, len);
}

/* ls -l, cat and getfattr of element @i. */
static void view_element(const shmseg_list *l, size_t i)
{
    enum shmseg_type type;
    size_t len;
    int err = 0;

    CHECK(shmseg_list_type(l, i, &type) == 0);
    char *text = cat_element(l, i, &len, &err);
    if (!text) {
        CHECK(err == -EILSEQ && type == SHMSEG_STR);
        return;
    }
    check_reparses(type, text, len);
    free(text);
}

/* getfattr user.shmfs.format of the folder: a size query, then the text. */
static void view_format(const shmseg_list *l, size_t n)
{
    ssize_t len = shmseg_list_format(l, NULL, 0);
    CHECK(len >= 0 && (size_t)len >= n && (size_t)len <= 8 * n);
    char *buf = xmalloc((size_t)len + 1);
    CHECK(shmseg_list_format(l, buf, (size_t)len + 1) == len);
    CHECK(strlen(buf) == (size_t)len);
    free(buf);
}

/* --- the store ----------------------------------------------------------------- */

/* What shmseg_list_set_text() must return for the store of @in's text into
 * element @i of the list (bytes @seg before the store), and in @v the value
 * it parses. */
static int store_model(const shmseg_list *l, const unsigned char *seg,
                       size_t n, size_t i, const struct view_input *in,
                       struct shmseg_value *v)
{
    enum shmseg_type type;
    size_t from, slot;

    if (in->rdonly)
        return -EBADF;
    if (i >= n)
        return -ERANGE;
    CHECK(shmseg_list_type(l, i, &type) == 0);
    int err = shmseg_value_parse(type, in->text, in->text_len, v);
    if (err < 0)
        return err;
    slot_bounds(seg, n, i, &from, &slot);
    if (is_text(type) && v->u.s.len > slot)
        return -EFBIG;
    return 0;
}

/* The bytes CPython's struct.pack_into writes for @v into the slot at @p of
 * @slot bytes: a str/bytes zero-padded to the slot; a number, bool ("7x?")
 * or None ("6x?x", False) as one 8-byte word, the rest of the slot kept. */
static void model_write(unsigned char *p, size_t slot,
                        const struct shmseg_value *v)
{
    switch (v->type) {
    case SHMSEG_STR:
    case SHMSEG_BYTES:
        if (v->u.s.len)
            memcpy(p, v->u.s.ptr, v->u.s.len);
        memset(p + v->u.s.len, 0, slot - v->u.s.len);
        return;
    case SHMSEG_INT:
        memcpy(p, &v->u.i, 8);
        return;
    case SHMSEG_FLOAT:
        memcpy(p, &v->u.f, 8);
        return;
    case SHMSEG_BOOL:
        memset(p, 0, 8);
        p[7] = v->u.b;
        return;
    case SHMSEG_NONE:
        memset(p, 0, 8);
        return;
    }
}

/* After a successful store of @v into element @i: the bytes are the model's
 * and the element reads back as @v (CPython strips trailing NULs). */
static void check_stored(const shmseg *seg, const shmseg_list *l,
                         const unsigned char *before, size_t n, size_t i,
                         struct shmseg_value v)
{
    size_t size = shmseg_size(seg), from, slot, len;
    enum shmseg_type type;
    int err = 0;

    unsigned char *want = xmalloc(size);
    memcpy(want, before, size);
    slot_bounds(before, n, i, &from, &slot);
    model_write(want + from, slot, &v);
    CHECK(memcmp(shmseg_data(seg), want, size) == 0);
    free(want);

    CHECK(shmseg_list_type(l, i, &type) == 0 && type == v.type);
    if (is_text(v.type))
        while (v.u.s.len && v.u.s.ptr[v.u.s.len - 1] == '\0')
            v.u.s.len--;
    char *text = cat_element(l, i, &len, &err);
    CHECK(text != NULL);
    check_formats_as(&v, text, len);
    check_reparses(type, text, len);
    free(text);
}

/* echo TEXT > DIR/i, checked against the model. */
static void store(const shmseg *seg, shmseg_list *l, size_t n,
                  const struct view_input *in)
{
    size_t size = shmseg_size(seg), i = in->index % (n + 1);
    struct shmseg_value v;

    unsigned char *before = xmalloc(size);
    memcpy(before, shmseg_data(seg), size);
    int want = store_model(l, before, n, i, in, &v);
    int err = shmseg_list_set_text(l, i, in->text, in->text_len);
    if (err != want)
        fprintf(stderr, "fuzz_view: set_text gave %d, model %d\n", err,
                want);
    CHECK(err == want);
    check_file_is_list(seg, n);
    if (err < 0)
        CHECK(memcmp(shmseg_data(seg), before, size) == 0);
    else
        check_stored(seg, l, before, n, i, v);
    free(before);
}

/* `cat DIR/j > t; cat t > DIR/j` for every element: accepted (refused when
 * read-only) and no visible change. */
static void echo_back(const shmseg *seg, shmseg_list *l, size_t n,
                      bool writable)
{
    for (size_t j = 0; j < n; j++) {
        size_t len, len2;
        int err = 0;
        char *text = cat_element(l, j, &len, &err);
        if (!text)
            continue; /* a str slot that is not UTF-8 (view_element()) */
        err = shmseg_list_set_text(l, j, text, len);
        CHECK(err == (writable ? 0 : -EBADF));
        char *again = cat_element(l, j, &len2, &err);
        CHECK(again && len2 == len && memcmp(again, text, len) == 0);
        free(again);
        free(text);
    }
    check_file_is_list(seg, n);
}

/* --- the path -------------------------------------------------------------------- */

/* The daemon's view of the file holding @in's segment, classified as a list
 * of @n elements. */
static void view_list(const struct view_input *in, size_t n)
{
    shmseg *seg;
    shmseg_list *l;

    CHECK(shmseg_attach(env.ns, SEG_NAME, in->rdonly ? SHMSEG_RDONLY : 0,
                        &seg) == 0);
    CHECK(shmseg_size(seg) == in->seg_len && shmseg_data(seg) != NULL);
    CHECK(shmseg_list_wrap(shmseg_data(seg), shmseg_size(seg), !in->rdonly,
                           &l) == 0);
    CHECK(shmseg_list_len(l) == n);
    for (size_t i = 0; i < n; i++)
        view_element(l, i);
    view_format(l, n);
    store(seg, l, n, in);
    echo_back(seg, l, n, !in->rdonly);
    shmseg_list_close(l);
    CHECK(shmseg_close(seg) == 0);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct view_input in;

    if (!split_input(data, size, &in))
        return 0;
    /* The file's size is set first, so pwrite() rewrites every byte. */
    CHECK(ftruncate(env.fd, (off_t)in.seg_len) == 0);
    CHECK(pwrite(env.fd, in.seg, in.seg_len, 0) == (ssize_t)in.seg_len);

    size_t n_mem = 0, n_fd = 0;
    int rc_mem = shmseg_list_check(in.seg, in.seg_len, &n_mem);
    int rc_fd = shmseg_list_check_fd(env.fd, &n_fd);
    CHECK(rc_mem == 0 || rc_mem == -EBADMSG);
    CHECK(rc_fd == rc_mem && n_fd == n_mem);
    if (rc_mem == 0)
        view_list(&in, n_mem);
    free(in.text);
    return 0;
}
