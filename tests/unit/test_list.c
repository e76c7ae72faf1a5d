/*
 * test_list.c - unit tests of lib/list.c: ShareableList layout, validation,
 * get/set with CPython's rules, element text, and every error path.
 *
 * Expected bytes here are built by hand from the layout CPython documents in
 * Lib/multiprocessing/shared_memory.py, independently of lib/list.c.
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
#include <sys/mman.h>

#define INT(x) ((struct shmseg_value){.type = SHMSEG_INT, .u.i = (x)})
#define FLT(x) ((struct shmseg_value){.type = SHMSEG_FLOAT, .u.f = (x)})
#define BOOL(x) ((struct shmseg_value){.type = SHMSEG_BOOL, .u.b = (x)})
#define NONE ((struct shmseg_value){.type = SHMSEG_NONE})
#define STR(x) \
    ((struct shmseg_value){.type = SHMSEG_STR, .u.s = {(x), sizeof(x) - 1}})
#define BYTES(x) \
    ((struct shmseg_value){.type = SHMSEG_BYTES, .u.s = {(x), sizeof(x) - 1}})


/* A hand-built list image, appended field by field. */
struct image {
    alignas(8) unsigned char b[512];
    size_t len;
};

static void put(struct image *im, const void *p, size_t n)
{
    memcpy(im->b + im->len, p, n);
    im->len += n;
}

static void put_i64(struct image *im, int64_t v)
{
    put(im, &v, 8);
}

static void put_fmt(struct image *im, const char *fmt)
{
    char f[8] = {0};
    memcpy(f, fmt, strlen(fmt));
    put(im, f, 8);
}

/* CPython's bytes for ShareableList([7, 'ab', None, True, 2.5, b'xyz']). */
static void expected_image(struct image *im)
{
    char slot[8] = {0};
    unsigned char boolslot[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    double d = 2.5;

    im->len = 0;
    put_i64(im, 6);
    for (int64_t off = 0; off <= 48; off += 8)
        put_i64(im, off);
    put_i64(im, 7);
    memcpy(slot, "ab", 2);
    put(im, slot, 8);
    put_i64(im, 0);
    put(im, boolslot, 8);
    put(im, &d, 8);
    memset(slot, 0, 8);
    memcpy(slot, "xyz", 3);
    put(im, slot, 8);
    put_fmt(im, "q");
    put_fmt(im, "8s");
    put_fmt(im, "xxxxxx?x");
    put_fmt(im, "xxxxxxx?");
    put_fmt(im, "d");
    put_fmt(im, "8s");
    put(im, "\0\1\3\0\0\2", 6);
}

static const struct shmseg_value sample[] = {
    {.type = SHMSEG_INT, .u.i = 7},
    {.type = SHMSEG_STR, .u.s = {"ab", 2}},
    {.type = SHMSEG_NONE},
    {.type = SHMSEG_BOOL, .u.b = true},
    {.type = SHMSEG_FLOAT, .u.f = 2.5},
    {.type = SHMSEG_BYTES, .u.s = {"xyz", 3}},
};

static shmseg_list *make_sample(struct fixture *f, const char *name)
{
    shmseg_list *l;
    assert_int_equal(shmseg_list_create(f->ns, name, sample, 6, 0600, &l), 0);
    return l;
}

static void test_create_bytes_match_cpython(void **state)
{
    struct image im;
    shmseg_list *l = make_sample(F(state), "sample");
    shmseg *seg = shmseg_list_segment(l);

    expected_image(&im);
    assert_int_equal(shmseg_size(seg), im.len);
    assert_int_equal(im.len, 8 + 8 * 7 + 48 + 8 * 6 + 6);
    assert_memory_equal(shmseg_data(seg), im.b, im.len);
    assert_string_equal(shmseg_name(seg), "sample");
    assert_int_equal(shmseg_list_len(l), 6);
    assert_int_equal(shmseg_list_close(l), 0);
}

static void test_create_empty(void **state)
{
    shmseg_list *l;
    char fmt[4] = "zz";
    unsigned char zero[16] = {0};

    assert_int_equal(shmseg_list_create(F(state)->ns, "empty", NULL, 0, 0600,
                                        &l), 0);
    assert_int_equal(shmseg_list_len(l), 0);
    assert_int_equal(shmseg_size(shmseg_list_segment(l)), 16);
    assert_memory_equal(shmseg_data(shmseg_list_segment(l)), zero, 16);
    assert_int_equal(shmseg_list_format(l, fmt, sizeof(fmt)), 0);
    assert_string_equal(fmt, "");
    shmseg_list_close(l);
}

static void test_create_generated_name(void **state)
{
    shmseg_list *l;
    const struct shmseg_value v = INT(1);

    assert_int_equal(shmseg_list_create(F(state)->ns, NULL, &v, 1, 0600, &l),
                     0);
    assert_memory_equal(shmseg_name(shmseg_list_segment(l)), "psm_", 4);
    shmseg_list_close(l);
}

/* Slots are 8 * (len / 8 + 1): a multiple of 8 gets a whole spare word. */
static void test_str_slot_sizes(void **state)
{
    const struct shmseg_value v[] = {STR(""), STR("1234567"),
                                     STR("12345678"), BYTES("123456789")};
    shmseg_list *l;
    char fmt[64];

    assert_int_equal(shmseg_list_create(F(state)->ns, "slots", v, 4, 0600,
                                        &l), 0);
    assert_int_equal(shmseg_list_format(l, fmt, sizeof(fmt)), 10);
    assert_string_equal(fmt, "8s8s16s16s");
    shmseg_list_close(l);
}

static void test_create_errors(void **state)
{
    struct fixture *f = F(state);
    shmseg_list *l = (shmseg_list *)1;
    struct shmseg_value bad = INT(0);
    struct shmseg_value v;

    assert_int_equal(shmseg_list_create(f->ns, "e", sample, 6, 0600, NULL),
                     -EINVAL);
    assert_int_equal(shmseg_list_create(f->ns, "e", NULL, 3, 0600, &l),
                     -EINVAL);
    assert_null(l);
    bad.type = (enum shmseg_type)99;
    assert_int_equal(shmseg_list_create(f->ns, "e", &bad, 1, 0600, &l),
                     -EINVAL);
    v = (struct shmseg_value){.type = SHMSEG_STR, .u.s = {NULL, 3}};
    assert_int_equal(shmseg_list_create(f->ns, "e", &v, 1, 0600, &l), -EINVAL);
    v = STR("\xff\xfe");
    assert_int_equal(shmseg_list_create(f->ns, "e", &v, 1, 0600, &l), -EINVAL);

    /* The largest slot an 8-byte format can name is "9999992s". */
    char *big = calloc(SHMSEG_LIST_MAX_SLOT, 1);
    assert_non_null(big);
    v = (struct shmseg_value){.type = SHMSEG_BYTES,
                              .u.s = {big, SHMSEG_LIST_MAX_SLOT}};
    assert_int_equal(shmseg_list_create(f->ns, "e", &v, 1, 0600, &l), -EFBIG);
    v.u.s.len = SHMSEG_LIST_MAX_SLOT - 1;
    assert_int_equal(shmseg_list_create(f->ns, "e", &v, 1, 0600, &l), 0);
    char fmt[16];
    assert_int_equal(shmseg_list_format(l, fmt, sizeof(fmt)), 8);
    assert_string_equal(fmt, "9999992s");
    shmseg_list_close(l);
    free(big);

    /* Name taken: the existing segment is untouched. */
    l = make_sample(f, "taken");
    shmseg_list *l2;
    const struct shmseg_value one = INT(1);
    assert_int_equal(shmseg_list_create(f->ns, "taken", &one, 1, 0600, &l2),
                     -EEXIST);
    assert_int_equal(shmseg_list_len(l), 6);
    shmseg_list_close(l);
    assert_int_equal(shmseg_list_create(f->ns, "a/b", &one, 1, 0600, &l2),
                     -EINVAL);
}

static void test_get_every_type(void **state)
{
    shmseg_list *l = make_sample(F(state), "g");
    struct shmseg_value v;
    enum shmseg_type t;

    assert_int_equal(shmseg_list_get(l, 0, &v), 0);
    assert_int_equal(v.type, SHMSEG_INT);
    assert_int_equal(v.u.i, 7);
    assert_int_equal(shmseg_list_get(l, 1, &v), 0);
    assert_int_equal(v.type, SHMSEG_STR);
    assert_int_equal(v.u.s.len, 2);
    assert_memory_equal(v.u.s.ptr, "ab", 2);
    assert_int_equal(shmseg_list_get(l, 2, &v), 0);
    assert_int_equal(v.type, SHMSEG_NONE);
    assert_int_equal(shmseg_list_get(l, 3, &v), 0);
    assert_int_equal(v.type, SHMSEG_BOOL);
    assert_true(v.u.b);
    assert_int_equal(shmseg_list_get(l, 4, &v), 0);
    assert_int_equal(v.type, SHMSEG_FLOAT);
    assert_true(v.u.f == 2.5);
    assert_int_equal(shmseg_list_get(l, 5, &v), 0);
    assert_int_equal(v.type, SHMSEG_BYTES);
    assert_int_equal(v.u.s.len, 3);
    assert_memory_equal(v.u.s.ptr, "xyz", 3);

    assert_int_equal(shmseg_list_get(l, 6, &v), -ERANGE);
    assert_int_equal(shmseg_list_get(l, SIZE_MAX, &v), -ERANGE);
    assert_int_equal(shmseg_list_type(l, 4, &t), 0);
    assert_int_equal(t, SHMSEG_FLOAT);
    assert_int_equal(shmseg_list_type(l, 6, &t), -ERANGE);
    shmseg_list_close(l);
}

/* CPython strips every trailing NUL of a str/bytes when it reads. */
static void test_trailing_nuls_stripped(void **state)
{
    const struct shmseg_value in[] = {STR("a\0b\0\0"), BYTES("\0\0")};
    struct shmseg_value v;
    shmseg_list *l;

    assert_int_equal(shmseg_list_create(F(state)->ns, "nul", in, 2, 0600, &l),
                     0);
    assert_int_equal(shmseg_list_get(l, 0, &v), 0);
    assert_int_equal(v.u.s.len, 3);
    assert_memory_equal(v.u.s.ptr, "a\0b", 3);
    assert_int_equal(shmseg_list_get(l, 1, &v), 0);
    assert_int_equal(v.u.s.len, 0);
    shmseg_list_close(l);
}

static void test_get_invalid_utf8(void **state)
{
    shmseg_list *l = make_sample(F(state), "u8");
    struct shmseg_value v;
    unsigned char *data = shmseg_data(shmseg_list_segment(l));

    /* Element 1 ("ab") lives at data start 8 * (6 + 2) + offset 8. */
    data[64 + 8] = 0xc3; /* a lead byte with no continuation */
    assert_int_equal(shmseg_list_get(l, 1, &v), -EILSEQ);
    /* The same bytes as a bytes element are fine. */
    data[64 + 8 * 6 + 8 * 6 + 1] = 2;
    assert_int_equal(shmseg_list_get(l, 1, &v), 0);
    assert_int_equal(v.type, SHMSEG_BYTES);
    shmseg_list_close(l);
}

static void expect_format(shmseg_list *l, const char *want)
{
    char fmt[128];
    assert_int_equal(shmseg_list_format(l, fmt, sizeof(fmt)), strlen(want));
    assert_string_equal(fmt, want);
}

/* Every type can replace every other in an 8-byte slot, as in CPython. */
static void test_set_type_changes(void **state)
{
    shmseg_list *l = make_sample(F(state), "s");
    struct shmseg_value v;

    assert_int_equal(shmseg_list_set(l, 0, &FLT(-1.5)), 0);
    assert_int_equal(shmseg_list_get(l, 0, &v), 0);
    assert_int_equal(v.type, SHMSEG_FLOAT);
    assert_true(v.u.f == -1.5);
    assert_int_equal(shmseg_list_set(l, 0, &BOOL(false)), 0);
    assert_int_equal(shmseg_list_get(l, 0, &v), 0);
    assert_int_equal(v.type, SHMSEG_BOOL);
    assert_false(v.u.b);
    assert_int_equal(shmseg_list_set(l, 0, &STR("12345678")), 0);
    expect_format(l, "8s8sxxxxxx?xxxxxxxx?d8s");
    assert_int_equal(shmseg_list_get(l, 0, &v), 0);
    assert_int_equal(v.type, SHMSEG_STR);
    assert_int_equal(v.u.s.len, 8);
    assert_int_equal(shmseg_list_set(l, 0, &BYTES("b")), 0);
    assert_int_equal(shmseg_list_type(l, 0, &v.type), 0);
    assert_int_equal(v.type, SHMSEG_BYTES);
    assert_int_equal(shmseg_list_set(l, 1, &NONE), 0);
    assert_int_equal(shmseg_list_set(l, 2, &INT(INT64_MIN)), 0);
    assert_int_equal(shmseg_list_get(l, 2, &v), 0);
    assert_int_equal(v.u.i, INT64_MIN);
    expect_format(l, "8sxxxxxx?xqxxxxxxx?d8s");
    shmseg_list_close(l);
}

/* The bytes after a set are CPython's: rebuild the sample image, apply the
 * same change by hand, compare. */
static void test_set_bytes_match_cpython(void **state)
{
    shmseg_list *l = make_sample(F(state), "sb");
    struct image im;

    expected_image(&im);
    assert_int_equal(shmseg_list_set(l, 1, &INT(-2)), 0);
    assert_int_equal(shmseg_list_set(l, 2, &STR("x")), 0);
    /* element 1: format "q", code 0, value -2 */
    int64_t m2 = -2;
    memcpy(im.b + 64 + 8, &m2, 8);
    memcpy(im.b + 64 + 48 + 8, "q\0\0\0\0\0\0\0", 8);
    im.b[64 + 48 + 48 + 1] = 0;
    /* element 2: "x" into the None slot: format "8s", code 1 */
    memcpy(im.b + 64 + 16, "x\0\0\0\0\0\0\0", 8);
    memcpy(im.b + 64 + 48 + 16, "8s\0\0\0\0\0\0", 8);
    im.b[64 + 48 + 48 + 2] = 1;
    assert_memory_equal(shmseg_data(shmseg_list_segment(l)), im.b, im.len);
    shmseg_list_close(l);
}

/* A number stored in a long str slot keeps the slot's size; a str stored
 * there again gets the slot's full size back. */
static void test_set_wide_slot(void **state)
{
    const struct shmseg_value in[] = {STR("a fairly long string")};
    shmseg_list *l;
    struct shmseg_value v;

    assert_int_equal(shmseg_list_create(F(state)->ns, "w", in, 1, 0600, &l),
                     0);
    expect_format(l, "24s");
    assert_int_equal(shmseg_list_set(l, 0, &FLT(1.0)), 0);
    expect_format(l, "d");
    assert_int_equal(shmseg_list_set(l, 0, &STR("twenty-three bytes long")),
                     0);
    expect_format(l, "24s");
    assert_int_equal(shmseg_list_get(l, 0, &v), 0);
    assert_int_equal(v.u.s.len, 23);
    assert_int_equal(shmseg_list_set(l, 0, &STR("twenty-five bytes long...")),
                     -EFBIG);
    shmseg_list_close(l);
}

static void test_set_errors_change_nothing(void **state)
{
    struct fixture *f = F(state);
    shmseg_list *l = make_sample(f, "se");
    shmseg *seg = shmseg_list_segment(l);
    struct image before;

    memcpy(before.b, shmseg_data(seg), shmseg_size(seg));
    assert_int_equal(shmseg_list_set(l, 1, &STR("123456789")), -EFBIG);
    assert_int_equal(shmseg_list_set(l, 5, &BYTES("123456789")), -EFBIG);
    assert_int_equal(shmseg_list_set(l, 0, &STR("\xc0\xaf")), -EINVAL);
    assert_int_equal(shmseg_list_set(l, 6, &INT(1)), -ERANGE);
    assert_int_equal(shmseg_list_set(l, 0, NULL), -EINVAL);
    struct shmseg_value bad = {.type = (enum shmseg_type)-1};
    assert_int_equal(shmseg_list_set(l, 0, &bad), -EINVAL);
    assert_memory_equal(shmseg_data(seg), before.b, shmseg_size(seg));
    shmseg_list_close(l);

    shmseg_list *ro;
    assert_int_equal(shmseg_list_attach(f->ns, "se", SHMSEG_RDONLY, &ro), 0);
    assert_int_equal(shmseg_list_set(ro, 0, &INT(1)), -EBADF);
    assert_int_equal(shmseg_list_set_text(ro, 0, "1", 1), -EBADF);
    shmseg_list_close(ro);
}

/* A str/bytes value may come from the very slot it is stored into. */
static void test_set_from_own_slot(void **state)
{
    shmseg_list *l = make_sample(F(state), "own");
    struct shmseg_value v;

    assert_int_equal(shmseg_list_get(l, 1, &v), 0);
    v.u.s.ptr++;
    v.u.s.len--;
    assert_int_equal(shmseg_list_set(l, 1, &v), 0);
    assert_int_equal(shmseg_list_get(l, 1, &v), 0);
    assert_int_equal(v.u.s.len, 1);
    assert_memory_equal(v.u.s.ptr, "b", 1);
    shmseg_list_close(l);
}

static void test_attach(void **state)
{
    struct fixture *f = F(state);
    shmseg_list *a = make_sample(f, "att"), *b;
    struct shmseg_value v;

    assert_int_equal(shmseg_list_attach(f->ns, "/att", 0, &b), 0);
    assert_int_equal(shmseg_list_len(b), 6);
    assert_int_equal(shmseg_list_set(a, 0, &INT(99)), 0);
    assert_int_equal(shmseg_list_get(b, 0, &v), 0);
    assert_int_equal(v.u.i, 99);
    shmseg_list_close(b);
    shmseg_list_close(a);
}

static void test_attach_errors(void **state)
{
    struct fixture *f = F(state);
    shmseg_list *l = (shmseg_list *)1;
    shmseg *seg;

    assert_int_equal(shmseg_list_attach(f->ns, "none", 0, &l), -ENOENT);
    assert_null(l);
    assert_int_equal(shmseg_list_attach(f->ns, "x", 0, NULL), -EINVAL);
    assert_int_equal(shmseg_create(f->ns, "plain", 4096, 0600, &seg), 0);
    assert_int_equal(shmseg_list_attach(f->ns, "plain", 0, &l), -EBADMSG);
    assert_int_equal(shmseg_resize(seg, 0), 0);
    assert_int_equal(shmseg_list_attach(f->ns, "plain", 0, &l), -EBADMSG);
    shmseg_close(seg);
}

static void test_wrap(void **state)
{
    struct image im;
    shmseg_list *l = (shmseg_list *)1;
    struct shmseg_value v;
    (void)state;

    expected_image(&im);
    assert_int_equal(shmseg_list_wrap(im.b, im.len, true, &l), 0);
    assert_null(shmseg_list_segment(l));
    assert_int_equal(shmseg_list_set(l, 0, &INT(5)), 0);
    assert_int_equal(shmseg_list_get(l, 0, &v), 0);
    assert_int_equal(v.u.i, 5);
    assert_int_equal(shmseg_list_close(l), 0);

    assert_int_equal(shmseg_list_wrap(im.b, im.len, false, &l), 0);
    assert_int_equal(shmseg_list_set(l, 0, &INT(6)), -EBADF);
    shmseg_list_close(l);

    assert_int_equal(shmseg_list_wrap(im.b + 1, im.len, true, &l), -EINVAL);
    assert_null(l);
    assert_int_equal(shmseg_list_wrap(NULL, 16, true, &l), -EINVAL);
    assert_int_equal(shmseg_list_wrap(im.b, im.len, true, NULL), -EINVAL);
    assert_int_equal(shmseg_list_wrap(im.b, im.len - 1, true, &l), -EBADMSG);
}

/* After attach, another process may scribble over the header: accesses
 * must notice and never leave the buffer (ASan checks the last part: the
 * buffer is a heap block of the exact size). */
static void test_header_damaged_after_attach(void **state)
{
    struct image im;
    shmseg_list *l;
    struct shmseg_value v;
    char fmt[64];
    (void)state;

    expected_image(&im);
    unsigned char *buf = malloc(im.len);
    assert_alloc(buf);
    memcpy(buf, im.b, im.len);
    assert_int_equal(shmseg_list_wrap(buf, im.len, true, &l), 0);

    int64_t huge = INT64_MAX - 7;
    memcpy(buf + 8 + 8 * 2, &huge, 8); /* offsets[2] */
    assert_int_equal(shmseg_list_get(l, 1, &v), -EBADMSG);
    assert_int_equal(shmseg_list_get(l, 2, &v), -EBADMSG);
    assert_int_equal(shmseg_list_set(l, 2, &INT(1)), -EBADMSG);
    assert_int_equal(shmseg_list_format(l, fmt, sizeof(fmt)), -EBADMSG);
    assert_int_equal(shmseg_list_get(l, 0, &v), 0);
    int64_t odd = 12;
    memcpy(buf + 8 + 8 * 2, &odd, 8); /* misaligned slot */
    assert_int_equal(shmseg_list_get(l, 2, &v), -EBADMSG);
    memcpy(buf, im.b, im.len);

    memcpy(buf + 64 + 48, "Q", 1); /* element 0 format */
    assert_int_equal(shmseg_list_get(l, 0, &v), -EBADMSG);
    memcpy(buf + 64 + 48, "16s", 3); /* a str format naming the wrong slot */
    assert_int_equal(shmseg_list_get(l, 0, &v), -EBADMSG);
    memcpy(buf, im.b, im.len);
    buf[im.len - 1] = 7; /* element 5 code */
    assert_int_equal(shmseg_list_get(l, 5, &v), -EBADMSG);
    /* N is read once, at attach: changing it cannot widen accesses. */
    memcpy(buf, im.b, im.len);
    int64_t big_n = 1000;
    memcpy(buf, &big_n, 8);
    assert_int_equal(shmseg_list_len(l), 6);
    assert_int_equal(shmseg_list_get(l, 5, &v), 0);
    shmseg_list_close(l);
    free(buf);
}

/* shmseg_list_check_fd() on a file holding @len bytes of @b. */
static int check_as_file(const void *b, size_t len, size_t *n)
{
    int fd = memfd_create("shmfs-unit-list", MFD_CLOEXEC);
    if (fd < 0 || write(fd, b, len) != (ssize_t)len) {
        fail_msg("memfd: %s", strerror(errno));
        return -EIO;
    }
    int rc = shmseg_list_check_fd(fd, n);
    close(fd);
    return rc;
}

/* shmseg_list_check over one damaged copy of the sample image; the pread
 * version of the check must give the same answer on the same bytes. */
static int check_damaged(void (*damage)(struct image *))
{
    struct image im;
    expected_image(&im);
    damage(&im);
    unsigned char *copy = malloc(im.len ? im.len : 1);
    if (!copy) {
        fail_msg("out of memory");
        return -ENOMEM;
    }
    memcpy(copy, im.b, im.len);
    int rc = shmseg_list_check(copy, im.len, NULL);
    free(copy);
    assert_int_equal(check_as_file(im.b, im.len, NULL), rc);
    return rc;
}

static void set_i64(struct image *im, size_t at, int64_t v)
{
    memcpy(im->b + at, &v, 8);
}

#define FMT_AT(i) (64 + 48 + 8 * (i))
#define CODE_AT(i) (64 + 48 + 48 + (i))
static void d_n_plus(struct image *im) { set_i64(im, 0, 7); }
static void d_n_minus(struct image *im) { set_i64(im, 0, 5); }
static void d_n_negative(struct image *im) { set_i64(im, 0, -1); }
static void d_n_huge(struct image *im) { set_i64(im, 0, INT64_MAX); }
static void d_off0(struct image *im) { set_i64(im, 8, 8); }
static void d_off_order(struct image *im)
{
    set_i64(im, 16, 16);
    set_i64(im, 24, 8);
}
static void d_off_equal(struct image *im) { set_i64(im, 16, 0); }
static void d_off_unaligned(struct image *im) { set_i64(im, 16, 12); }
static void d_off_last(struct image *im) { set_i64(im, 56, 56); }
static void d_off_negative(struct image *im) { set_i64(im, 16, -8); }
static void d_size_plus(struct image *im) { im->b[im->len++] = 0; }
static void d_size_minus(struct image *im) { im->len--; }
static void d_truncated(struct image *im) { im->len = 15; }
static void d_empty(struct image *im) { im->len = 0; }
static void d_fmt_unknown(struct image *im) { memcpy(im->b + FMT_AT(0), "i", 1); }
static void d_fmt_garbage_after_nul(struct image *im) { im->b[FMT_AT(0) + 5] = 'q'; }
static void d_fmt_wrong_slot(struct image *im) { memcpy(im->b + FMT_AT(1), "9s", 2); }
static void d_fmt_leading_zero(struct image *im) { memcpy(im->b + FMT_AT(1), "08s", 3); }
static void d_fmt_no_digits(struct image *im) { memcpy(im->b + FMT_AT(1), "s\0", 2); }
static void d_fmt_no_s(struct image *im) { memcpy(im->b + FMT_AT(1), "8x", 2); }
static void d_fmt_all_digits(struct image *im) { memcpy(im->b + FMT_AT(1), "00000008", 8); }
static void d_code_int_as_str(struct image *im) { im->b[CODE_AT(0)] = 1; }
static void d_code_none_as_num(struct image *im) { im->b[CODE_AT(2)] = 0; }
static void d_code_bool_as_none(struct image *im) { im->b[CODE_AT(3)] = 3; }
static void d_code_str_as_num(struct image *im) { im->b[CODE_AT(1)] = 0; }
static void d_code_str_as_none(struct image *im) { im->b[CODE_AT(5)] = 3; }
static void d_code_out_of_range(struct image *im) { im->b[CODE_AT(5)] = 0xff; }

static void test_check_rejects(void **state)
{
    static void (*const damages[])(struct image *) = {
        d_n_plus, d_n_minus, d_n_negative, d_n_huge, d_off0, d_off_order,
        d_off_equal, d_off_unaligned, d_off_last, d_off_negative,
        d_size_plus, d_size_minus, d_truncated, d_empty, d_fmt_unknown,
        d_fmt_garbage_after_nul, d_fmt_wrong_slot, d_fmt_leading_zero,
        d_fmt_no_digits, d_fmt_no_s, d_fmt_all_digits, d_code_int_as_str,
        d_code_none_as_num, d_code_bool_as_none, d_code_str_as_num,
        d_code_str_as_none, d_code_out_of_range,
    };
    (void)state;
    for (size_t i = 0; i < sizeof(damages) / sizeof(damages[0]); i++) {
        if (check_damaged(damages[i]) != -EBADMSG)
            fail_msg("damage #%zu was accepted", i);
    }
    assert_int_equal(shmseg_list_check(NULL, 16, NULL), -EBADMSG);
}

static void test_check_accepts(void **state)
{
    struct image im;
    size_t n = 0;
    (void)state;

    expected_image(&im);
    assert_int_equal(shmseg_list_check(im.b, im.len, &n), 0);
    assert_int_equal(n, 6);
    n = 0;
    assert_int_equal(check_as_file(im.b, im.len, &n), 0);
    assert_int_equal(n, 6);
    /* Any alignment. */
    unsigned char *odd = malloc(im.len + 1);
    assert_alloc(odd);
    memcpy(odd + 1, im.b, im.len);
    assert_int_equal(shmseg_list_check(odd + 1, im.len, NULL), 0);
    free(odd);
    /* Values are not judged: CPython reads any bytes in a slot. */
    memset(im.b + 64, 0xff, 8);
    im.b[64 + 24] = 0x80;
    assert_int_equal(shmseg_list_check(im.b, im.len, NULL), 0);
    /* The empty list is 16 zero bytes. */
    memset(im.b, 0, 16);
    assert_int_equal(shmseg_list_check(im.b, 16, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(check_as_file(im.b, 16, &n), 0);
    /* A larger zero-filled segment (a fresh SharedMemory) is not a list. */
    static const unsigned char zeros[4096];
    assert_int_equal(check_as_file(zeros, sizeof(zeros), NULL), -EBADMSG);
    /* Not a regular file. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(shmseg_list_check_fd(p[0], NULL), -EBADMSG);
    close(p[0]);
    close(p[1]);
    assert_int_equal(shmseg_list_check_fd(-1, NULL), -EBADF);
}

static void test_text(void **state)
{
    shmseg_list *l = make_sample(F(state), "t");
    char buf[64];
    struct shmseg_value v;

    assert_int_equal(shmseg_list_get_text(l, 0, buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "7\n", 2);
    assert_int_equal(shmseg_list_get_text(l, 1, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "ab\n", 3);
    assert_int_equal(shmseg_list_get_text(l, 2, buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "None\n", 5);
    assert_int_equal(shmseg_list_get_text(l, 3, buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "True\n", 5);
    assert_int_equal(shmseg_list_get_text(l, 4, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "2.5\n", 4);
    assert_int_equal(shmseg_list_get_text(l, 5, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "xyz", 3);
    assert_int_equal(shmseg_list_get_text(l, 6, buf, sizeof(buf)), -ERANGE);

    assert_int_equal(shmseg_list_set_text(l, 0, "42\n", 3), 0);
    assert_int_equal(shmseg_list_get(l, 0, &v), 0);
    assert_int_equal(v.u.i, 42);
    assert_int_equal(shmseg_list_set_text(l, 0, "12abc", 5), -EINVAL);
    assert_int_equal(shmseg_list_set_text(l, 0, "99999999999999999999", 20),
                     -ERANGE);
    assert_int_equal(shmseg_list_get(l, 0, &v), 0);
    assert_int_equal(v.u.i, 42);
    assert_int_equal(shmseg_list_set_text(l, 1, "toolongtext\n", 12), -EFBIG);
    assert_int_equal(shmseg_list_set_text(l, 1, "cd\n", 3), 0);
    assert_int_equal(shmseg_list_get_text(l, 1, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "cd\n", 3);
    assert_int_equal(shmseg_list_set_text(l, 3, "False\n", 6), 0);
    assert_int_equal(shmseg_list_set_text(l, 4, "-0.0", 4), 0);
    assert_int_equal(shmseg_list_get(l, 4, &v), 0);
    assert_true(v.u.f == 0.0 && signbit(v.u.f));
    assert_int_equal(shmseg_list_set_text(l, 5, "a\nb\n", 4), 0);
    assert_int_equal(shmseg_list_get_text(l, 5, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "a\nb\n", 4);
    assert_int_equal(shmseg_list_set_text(l, 2, "None", 4), 0);
    assert_int_equal(shmseg_list_set_text(l, 2, "none", 4), -EINVAL);
    assert_int_equal(shmseg_list_set_text(l, 9, "1", 1), -ERANGE);
    shmseg_list_close(l);
}

static void test_format_truncates(void **state)
{
    shmseg_list *l = make_sample(F(state), "f");
    char buf[8];

    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(shmseg_list_format(l, buf, 4), 22);
    assert_string_equal(buf, "q8s");
    assert_int_equal(buf[4], 'Z');
    assert_int_equal(shmseg_list_format(l, NULL, 0), 22);
    shmseg_list_close(l);
}

struct tear {
    shmseg_list *l;
    volatile bool stop;
    long bad;
};

static void *tear_writer(void *arg)
{
    struct tear *t = arg;
    for (long k = 0; !t->stop; k++)
        shmseg_list_set(t->l, 0, &INT((k & 1) ? -1 : 0));
    return NULL;
}

/* A concurrent reader sees one whole number or the other, never a mix. */
static void test_no_torn_numbers(void **state)
{
    struct tear t = {.l = make_sample(F(state), "tear")};
    struct shmseg_value v;
    pthread_t th;

    assert_int_equal(shmseg_list_set(t.l, 0, &INT(0)), 0);
    assert_int_equal(pthread_create(&th, NULL, tear_writer, &t), 0);
    for (int k = 0; k < 200000; k++) {
        if (shmseg_list_get(t.l, 0, &v) < 0 || (v.u.i != 0 && v.u.i != -1))
            t.bad++;
    }
    t.stop = true;
    pthread_join(th, NULL);
    assert_int_equal(t.bad, 0);
    shmseg_list_close(t.l);
}

struct scribble {
    int64_t *word;
    int64_t good;
    volatile bool stop;
};

static void *scribbler(void *arg)
{
    struct scribble *sc = arg;
    for (long k = 0; !sc->stop; k++)
        __atomic_store_n(sc->word, (k & 1) ? sc->good : (INT64_C(1) << 40),
                         __ATOMIC_RELAXED);
    return NULL;
}

/* Another process rewrites offsets[N] while lists are attached: a handle
 * must keep the size its check proved, not re-read it (it once did, and
 * then indexed 1 TiB past the buffer). */
static void test_header_race_during_attach(void **state)
{
    struct image im;
    struct shmseg_value v;
    pthread_t th;
    (void)state;

    expected_image(&im);
    unsigned char *buf = aligned_alloc(8, (im.len + 7) / 8 * 8);
    assert_alloc(buf);
    memcpy(buf, im.b, im.len);
    struct scribble sc = {.word = (int64_t *)(void *)(buf + 8 + 8 * 6)};
    sc.good = *sc.word;
    assert_int_equal(pthread_create(&th, NULL, scribbler, &sc), 0);
    long attached = 0;
    for (int k = 0; k < 20000; k++) {
        shmseg_list *l;
        if (shmseg_list_wrap(buf, im.len, true, &l) < 0)
            continue;
        attached++;
        /* Any result but a crash (or an ASan report) will do. */
        shmseg_list_get(l, 5, &v);
        shmseg_list_set(l, 5, &BYTES("abc"));
        shmseg_list_get(l, 0, &v);
        shmseg_list_close(l);
    }
    sc.stop = true;
    pthread_join(th, NULL);
    free(buf);
    print_message("attached %ld of 20000 times while offsets[N] changed\n",
                  attached);
}

/* A number in a slot larger than any str/bytes format can name is not
 * something CPython writes: storing text there could not be described. */
static void test_check_rejects_oversized_slot(void **state)
{
    (void)state;
    for (size_t slot = SHMSEG_LIST_MAX_SLOT; slot <= SHMSEG_LIST_MAX_SLOT + 8;
         slot += 8) {
        size_t size = 16 + 8 + slot + 8 + 1;
        unsigned char *b = calloc(1, size);
        assert_alloc(b);
        int64_t one = 1, end = (int64_t)slot;
        memcpy(b, &one, 8);
        memcpy(b + 16, &end, 8);
        b[24 + slot] = 'q'; /* format "q", code 0 */
        int want = slot <= SHMSEG_LIST_MAX_SLOT ? 0 : -EBADMSG;
        assert_int_equal(shmseg_list_check(b, size, NULL), want);
        free(b);
    }
}

/* The list points into its segment's mapping: resizing it would pull the
 * memory from under the list. */
static void test_list_segment_not_resizable(void **state)
{
    shmseg_list *l = make_sample(F(state), "pinned");
    struct shmseg_value v;

    shmseg *seg = shmseg_list_segment(l);
    assert_non_null(seg);
    assert_int_equal(shmseg_resize(seg, 1 << 20), -EBUSY);
    assert_int_equal(shmseg_resize(seg, 0), -EBUSY);
    assert_int_equal(shmseg_list_get(l, 0, &v), 0);
    assert_int_equal(v.u.i, 7);
    shmseg_list_close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_create_bytes_match_cpython),
        FIXTURE_TEST(test_create_empty),
        FIXTURE_TEST(test_create_generated_name),
        FIXTURE_TEST(test_str_slot_sizes),
        FIXTURE_TEST(test_create_errors),
        FIXTURE_TEST(test_get_every_type),
        FIXTURE_TEST(test_trailing_nuls_stripped),
        FIXTURE_TEST(test_get_invalid_utf8),
        FIXTURE_TEST(test_set_type_changes),
        FIXTURE_TEST(test_set_bytes_match_cpython),
        FIXTURE_TEST(test_set_wide_slot),
        FIXTURE_TEST(test_set_errors_change_nothing),
        FIXTURE_TEST(test_set_from_own_slot),
        FIXTURE_TEST(test_attach),
        FIXTURE_TEST(test_attach_errors),
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_header_damaged_after_attach),
        cmocka_unit_test(test_header_race_during_attach),
        cmocka_unit_test(test_check_rejects_oversized_slot),
        FIXTURE_TEST(test_list_segment_not_resizable),
        cmocka_unit_test(test_check_rejects),
        cmocka_unit_test(test_check_accepts),
        FIXTURE_TEST(test_text),
        FIXTURE_TEST(test_format_truncates),
        FIXTURE_TEST(test_no_torn_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
