/*
 * list.c - ShareableList, byte-compatible with CPython's
 * multiprocessing.shared_memory.ShareableList.
 *
 * Layout (native-endian int64 unless said otherwise):
 *   [0]                    N
 *   [8]                    offsets[0..N], from the data area's start;
 *                          offsets[N] is the data area's size
 *   [8 * (N + 2)]          data area: element i at offsets[i]
 *   [... + offsets[N]]     N struct formats, 8 bytes each, NUL-padded
 *   [... + 8 * N]          N back-transform codes, one byte each
 *
 * The header is checked in full once, when a list is attached or wrapped.
 * Other processes may scribble over it afterwards, so every access re-checks
 * the few fields it uses against the sizes fixed at attach time: whatever
 * the bytes say, no access leaves the mapping.
 */
#include "shmseg.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* CPython's back-transform codes. */
enum {
    CODE_NUMBER = 0, /* int, float, bool */
    CODE_STR = 1,
    CODE_BYTES = 2,
    CODE_NONE = 3,
};

#define FMT_LEN 8
#define SLOT_ALIGN 8

/* The fixed formats, as the 8 NUL-padded bytes CPython stores. */
static const char FMT_INT[FMT_LEN] = "q";
static const char FMT_FLOAT[FMT_LEN] = "d";
static const char FMT_BOOL[FMT_LEN] = {'x', 'x', 'x', 'x', 'x', 'x', 'x', '?'};
static const char FMT_NONE[FMT_LEN] = {'x', 'x', 'x', 'x', 'x', 'x', '?', 'x'};

struct shmseg_list {
    shmseg *seg; /* owned segment, NULL for a wrapped buffer */
    unsigned char *base;
    size_t n;
    size_t data_size; /* offsets[N] */
    /* Where the parts start, fixed by n and data_size. */
    unsigned char *data, *fmts, *codes;
    bool writable;
};

/* --- layout arithmetic --------------------------------------------------- */

static size_t data_start(size_t n)
{
    return 8 * (n + 2);
}

/* Bytes a list of @n elements with a data area of @data_size bytes takes. */
static size_t list_size(size_t n, size_t data_size)
{
    return data_start(n) + data_size + (FMT_LEN + 1) * n;
}

static bool is_text(enum shmseg_type type)
{
    return type == SHMSEG_STR || type == SHMSEG_BYTES;
}

/* Unaligned native int64 load, for the validator (any buffer). */
static int64_t load_i64(const unsigned char *p)
{
    int64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Aligned 8-byte load/store of a mapped word: one instruction, never torn. */
static uint64_t load_word(const unsigned char *p)
{
    return __atomic_load_n((const uint64_t *)(const void *)p,
                           __ATOMIC_RELAXED);
}

static void store_word(unsigned char *p, uint64_t v)
{
    __atomic_store_n((uint64_t *)(void *)p, v, __ATOMIC_RELAXED);
}

/*
 * The type an element's format and code describe, given its slot size, or
 * -EBADMSG when they are not a pair CPython writes.  A str/bytes format
 * always names the slot's own size: CPython sizes the slot from the value at
 * creation and reuses the slot's size whenever it stores a str or bytes.
 */
static int classify(const unsigned char fmt[FMT_LEN], unsigned code,
                    size_t slot)
{
    /* No value CPython stores makes a larger slot, and a str/bytes format
     * could not name one: a number in such a slot could never turn back
     * into text. */
    if (slot > SHMSEG_LIST_MAX_SLOT)
        return -EBADMSG;
    switch (code) {
    case CODE_NUMBER:
        if (memcmp(fmt, FMT_INT, FMT_LEN) == 0)
            return SHMSEG_INT;
        if (memcmp(fmt, FMT_FLOAT, FMT_LEN) == 0)
            return SHMSEG_FLOAT;
        if (memcmp(fmt, FMT_BOOL, FMT_LEN) == 0)
            return SHMSEG_BOOL;
        return -EBADMSG;
    case CODE_NONE:
        return memcmp(fmt, FMT_NONE, FMT_LEN) == 0 ? SHMSEG_NONE : -EBADMSG;
    case CODE_STR:
    case CODE_BYTES:
        break;
    default:
        return -EBADMSG;
    }

    /* "<k>s": k in decimal without leading zeros, then NULs. */
    size_t k = 0, i = 0;
    if (fmt[0] == '0')
        return -EBADMSG;
    while (i < FMT_LEN && fmt[i] >= '0' && fmt[i] <= '9')
        k = k * 10 + (size_t)(fmt[i++] - '0');
    if (i == 0 || i >= FMT_LEN || fmt[i] != 's' || k != slot)
        return -EBADMSG;
    for (i++; i < FMT_LEN; i++)
        if (fmt[i] != '\0')
            return -EBADMSG;
    return code == CODE_STR ? SHMSEG_STR : SHMSEG_BYTES;
}

/* The 8 format bytes CPython stores for a value of @type in a @slot. */
static void format_for(enum shmseg_type type, size_t slot,
                       unsigned char fmt[FMT_LEN])
{
    switch (type) {
    case SHMSEG_INT:
        memcpy(fmt, FMT_INT, FMT_LEN);
        return;
    case SHMSEG_FLOAT:
        memcpy(fmt, FMT_FLOAT, FMT_LEN);
        return;
    case SHMSEG_BOOL:
        memcpy(fmt, FMT_BOOL, FMT_LEN);
        return;
    case SHMSEG_NONE:
        memcpy(fmt, FMT_NONE, FMT_LEN);
        return;
    case SHMSEG_STR:
    case SHMSEG_BYTES: {
        /* "<slot>s"; slot <= SHMSEG_LIST_MAX_SLOT: at most 7 digits.  By
         * hand, not snprintf(): this is on every str/bytes store. */
        char rev[FMT_LEN];
        size_t n = 0;
        do {
            rev[n++] = (char)('0' + slot % 10);
            slot /= 10;
        } while (slot && n < FMT_LEN - 1);
        memset(fmt, 0, FMT_LEN);
        for (size_t k = 0; k < n; k++)
            fmt[k] = (unsigned char)rev[n - 1 - k];
        fmt[n] = 's';
        return;
    }
    }
}

static unsigned code_for(enum shmseg_type type)
{
    switch (type) {
    case SHMSEG_STR:
        return CODE_STR;
    case SHMSEG_BYTES:
        return CODE_BYTES;
    case SHMSEG_NONE:
        return CODE_NONE;
    default:
        return CODE_NUMBER;
    }
}

/* The 8-byte word CPython's struct.pack_into writes for a number/bool/None. */
static uint64_t word_for(const struct shmseg_value *v)
{
    uint64_t w = 0;
    unsigned char b[8] = {0};

    switch (v->type) {
    case SHMSEG_INT:
        memcpy(&w, &v->u.i, sizeof(w));
        break;
    case SHMSEG_FLOAT:
        memcpy(&w, &v->u.f, sizeof(w));
        break;
    case SHMSEG_BOOL:
        b[7] = v->u.b ? 1 : 0; /* "xxxxxxx?": 7 pad bytes, then the bool */
        memcpy(&w, b, sizeof(w));
        break;
    default: /* None: "xxxxxx?x" packs False between zero pads */
        break;
    }
    return w;
}

/* Slot size CPython gives a new value: 8 for numbers, else 8*(len/8+1).
 * Callers first reject str/bytes of SHMSEG_LIST_MAX_SLOT bytes or more. */
static size_t slot_for(const struct shmseg_value *v)
{
    if (!is_text(v->type))
        return SLOT_ALIGN;
    return SLOT_ALIGN * (v->u.s.len / SLOT_ALIGN + 1);
}

/* -EINVAL unless @v is a value a list can hold. */
static int value_check(const struct shmseg_value *v)
{
    if (!v)
        return -EINVAL;
    switch (v->type) {
    case SHMSEG_INT:
    case SHMSEG_FLOAT:
    case SHMSEG_BOOL:
    case SHMSEG_NONE:
        return 0;
    case SHMSEG_STR:
    case SHMSEG_BYTES:
        if (!v->u.s.ptr && v->u.s.len)
            return -EINVAL;
        if (v->type == SHMSEG_STR && !shmseg__utf8_valid(v->u.s.ptr, v->u.s.len))
            return -EINVAL;
        return 0;
    }
    return -EINVAL;
}

/* --- validation ------------------------------------------------------------ */

/* The largest N a list of @size bytes can hold: each element takes at least
 * an offset, an 8-byte slot, a format and a code.  Bounding N first keeps
 * every product below from overflowing. */
static bool n_fits(int64_t sn, size_t size)
{
    return size >= 16 && sn >= 0 &&
           (uint64_t)sn <= (size - 16) / (8 + SLOT_ALIGN + FMT_LEN + 1);
}

/*
 * The checks of shmseg_list_check() on a list of @n elements (n_fits()) and
 * @size bytes, given its offsets[0..n] and its n formats followed by n
 * codes: the only parts the check reads.
 */
static int check_parts(size_t n, size_t size, const unsigned char *offsets,
                       const unsigned char *fmts, size_t *data_size_out)
{
    size_t data_size = size - list_size(n, 0);
    const unsigned char *codes = fmts + FMT_LEN * n;

    if (load_i64(offsets) != 0 ||
        load_i64(offsets + 8 * n) != (int64_t)data_size)
        return -EBADMSG;
    for (size_t i = 0; i < n; i++) {
        int64_t a = load_i64(offsets + 8 * i);
        int64_t b = load_i64(offsets + 8 * (i + 1));
        /* a >= 0 holds by induction from offsets[0] == 0. */
        if (b <= a || b > (int64_t)data_size || (b - a) % SLOT_ALIGN)
            return -EBADMSG;
        if (classify(fmts + FMT_LEN * i, codes[i], (size_t)(b - a)) < 0)
            return -EBADMSG;
    }
    *data_size_out = data_size;
    return 0;
}

/* shmseg_list_check(), also giving the data area's size. */
static int check(const unsigned char *p, size_t size, size_t *n_out,
                 size_t *data_size_out)
{
    if (!p || size < 16 || !n_fits(load_i64(p), size))
        return -EBADMSG;
    size_t n = (size_t)load_i64(p);
    int err = check_parts(n, size, p + 8, p + size - (FMT_LEN + 1) * n,
                          data_size_out);
    if (err == 0)
        *n_out = n;
    return err;
}

int shmseg_list_check(const void *buf, size_t size, size_t *n_out)
{
    size_t n, data_size;
    int err = check(buf, size, &n, &data_size);
    if (err == 0 && n_out)
        *n_out = n;
    return err;
}

/* Read exactly @len bytes at @off, or -EBADMSG if the file is shorter. */
static int pread_full(int fd, void *buf, size_t len, off_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, (char *)buf + done, len - done,
                          off + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EBADMSG; /* shrunk under us: not a list now */
        done += (size_t)r;
    }
    return 0;
}

int shmseg_list_check_fd(int fd, size_t *n_out)
{
    struct stat st;
    unsigned char head[16];

    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EBADMSG;
    size_t size = (size_t)st.st_size;
    if (size < 16)
        return -EBADMSG;
    int err = pread_full(fd, head, sizeof(head), 0);
    if (err < 0)
        return err;
    if (!n_fits(load_i64(head), size))
        return -EBADMSG;
    size_t n = (size_t)load_i64(head);
    /* Most segments that are not lists stop here, on the size. */
    if (load_i64(head + 8) != 0 || size - list_size(n, 0) < 8 * n)
        return -EBADMSG;

    size_t offsets_len = 8 * (n + 1), tail_len = (FMT_LEN + 1) * n;
    unsigned char *buf = malloc(offsets_len + tail_len);
    if (!buf)
        return -ENOMEM;
    err = pread_full(fd, buf, offsets_len, 8);
    if (err == 0)
        err = pread_full(fd, buf + offsets_len, tail_len,
                         (off_t)(size - tail_len));
    size_t data_size;
    if (err == 0)
        err = check_parts(n, size, buf, buf + offsets_len, &data_size);
    free(buf);
    if (err == 0 && n_out)
        *n_out = n;
    return err;
}

/* --- handles ----------------------------------------------------------------- */

/* A handle on the list of @n elements and @data_size data bytes at @base.
 * The sizes come from the check (or the layout we wrote), never again from
 * the mapping: another process may have changed those bytes since. */
static int new_handle(unsigned char *base, size_t n, size_t data_size,
                      bool writable, shmseg *seg, shmseg_list **out)
{
    shmseg_list *l = malloc(sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->seg = seg;
    l->base = base;
    l->n = n;
    l->data_size = data_size;
    l->data = base + data_start(n);
    l->fmts = l->data + data_size;
    l->codes = l->fmts + FMT_LEN * n;
    l->writable = writable;
    if (seg)
        shmseg__pin(seg);
    *out = l;
    return 0;
}

static int wrap(void *buf, size_t size, bool writable, shmseg *seg,
                shmseg_list **out)
{
    size_t n = 0, data_size = 0; /* set by check(); gcc -O3 cannot tell */
    int err = check(buf, size, &n, &data_size);
    if (err < 0)
        return err;
    return new_handle(buf, n, data_size, writable, seg, out);
}

int shmseg_list_wrap(void *buf, size_t size, bool writable, shmseg_list **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!buf || (uintptr_t)buf % 8)
        return -EINVAL;
    return wrap(buf, size, writable, NULL, out);
}

int shmseg_list_attach(const shmseg_ns *ns, const char *name, int flags,
                       shmseg_list **out)
{
    shmseg *seg;

    if (!out)
        return -EINVAL;
    *out = NULL;
    int err = shmseg_attach(ns, name, flags, &seg);
    if (err < 0)
        return err;
    err = wrap(shmseg_data(seg), shmseg_size(seg), !(flags & SHMSEG_RDONLY),
               seg, out);
    if (err < 0)
        shmseg_close(seg);
    return err;
}

int shmseg_list_close(shmseg_list *list)
{
    if (!list)
        return 0;
    int err = shmseg_close(list->seg);
    free(list);
    return err;
}

shmseg *shmseg_list_segment(const shmseg_list *list)
{
    return list->seg;
}

size_t shmseg_list_len(const shmseg_list *list)
{
    return list->n;
}

/* Writes every field of the new list @l from @values; the bytes are
 * already zero. */
static void lay_out(shmseg_list *l, const struct shmseg_value *values)
{
    unsigned char *offsets = l->base + 8;
    int64_t sn = (int64_t)l->n, off = 0;

    memcpy(l->base, &sn, 8);
    for (size_t i = 0; i < l->n; i++) {
        const struct shmseg_value *v = &values[i];
        size_t slot = slot_for(v);

        memcpy(offsets + 8 * i, &off, 8);
        if (is_text(v->type)) {
            if (v->u.s.len)
                memcpy(l->data + off, v->u.s.ptr, v->u.s.len);
        } else {
            store_word(l->data + off, word_for(v));
        }
        format_for(v->type, slot, l->fmts + FMT_LEN * i);
        l->codes[i] = (unsigned char)code_for(v->type);
        off += (int64_t)slot;
    }
    memcpy(offsets + 8 * l->n, &off, 8);
}

int shmseg_list_create(const shmseg_ns *ns, const char *name,
                       const struct shmseg_value *values, size_t n,
                       mode_t mode, shmseg_list **out)
{
    size_t data_size = 0, slot, size;
    shmseg *seg;
    int err;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!values && n)
        return -EINVAL;
    /* Keep every size below within int64 (offsets are int64). */
    if (n > (size_t)INT64_MAX / 64)
        return -EFBIG;
    for (size_t i = 0; i < n; i++) {
        err = value_check(&values[i]);
        if (err < 0)
            return err;
        if (is_text(values[i].type) &&
            values[i].u.s.len >= SHMSEG_LIST_MAX_SLOT)
            return -EFBIG;
        slot = slot_for(&values[i]);
        if (data_size > (size_t)INT64_MAX / 2 - slot)
            return -EFBIG;
        data_size += slot;
    }
    size = list_size(n, data_size);
    if (size < data_size)
        return -EFBIG;

    err = shmseg_create(ns, name, size, mode, &seg);
    if (err < 0)
        return err;
    /* The layout below writes every page through the mapping: allocate
     * them first, so that a full tmpfs is ENOSPC here and not SIGBUS
     * there. */
    do /* tmpfs gives up on a pending signal */
        err = -posix_fallocate(shmseg_fd(seg), 0, (off_t)size);
    while (err == -EINTR);
    if (err == 0)
        err = new_handle(shmseg_data(seg), n, data_size, true, seg, out);
    if (err < 0) {
        shmseg_unlink(ns, shmseg_name(seg));
        shmseg_close(seg);
        return err;
    }
    lay_out(*out, values);
    return 0;
}

/* --- elements ---------------------------------------------------------------- */

/* Where element @i lives and what it holds, checked against the mapping. */
struct slot_ref {
    unsigned char *data;
    size_t slot;
    unsigned char *fmt;
    unsigned char *code;
    enum shmseg_type type;
};

/* On every element access: worth inlining. */
static inline __attribute__((always_inline)) int
locate(const shmseg_list *l, size_t i, struct slot_ref *r)
{
    if (i >= l->n)
        return -ERANGE;
    const unsigned char *offsets = l->base + 8;
    uint64_t a = load_word(offsets + 8 * i);
    uint64_t b = load_word(offsets + 8 * (i + 1));
    /* Re-checked on every access: another process may have changed them. */
    if (b <= a || b > l->data_size || (a | b) % SLOT_ALIGN)
        return -EBADMSG;
    r->data = l->data + a;
    r->slot = (size_t)(b - a);
    r->fmt = l->fmts + FMT_LEN * i;
    r->code = l->codes + i;
    int type = classify(r->fmt, *r->code, r->slot);
    if (type < 0)
        return type;
    r->type = (enum shmseg_type)type;
    return 0;
}

int shmseg_list_type(const shmseg_list *list, size_t i, enum shmseg_type *out)
{
    struct slot_ref r;
    int err = locate(list, i, &r);
    if (err < 0)
        return err;
    *out = r.type;
    return 0;
}

int shmseg_list_get(const shmseg_list *list, size_t i, struct shmseg_value *out)
{
    struct slot_ref r;
    uint64_t w;

    int err = locate(list, i, &r);
    if (err < 0)
        return err;
    out->type = r.type;
    switch (r.type) {
    case SHMSEG_INT:
        w = load_word(r.data);
        memcpy(&out->u.i, &w, sizeof(w));
        return 0;
    case SHMSEG_FLOAT:
        w = load_word(r.data);
        memcpy(&out->u.f, &w, sizeof(w));
        return 0;
    case SHMSEG_BOOL:
        /* struct's '?' reads any non-zero byte as True. */
        out->u.b = __atomic_load_n(&r.data[7], __ATOMIC_RELAXED) != 0;
        return 0;
    case SHMSEG_NONE:
        return 0;
    case SHMSEG_STR:
    case SHMSEG_BYTES: {
        /* Slots are whole 8-byte words: strip NUL words, then bytes. */
        size_t len = r.slot;
        while (len >= 8 && load_i64(r.data + len - 8) == 0)
            len -= 8;
        while (len && r.data[len - 1] == '\0')
            len--;
        out->u.s.ptr = (const char *)r.data;
        out->u.s.len = len;
        if (r.type == SHMSEG_STR && !shmseg__utf8_valid(out->u.s.ptr, len))
            return -EILSEQ;
        return 0;
    }
    }
    return -EBADMSG;
}

/* Store the checked value @v in the located element @r. */
static int store(const struct slot_ref *r, const struct shmseg_value *v)
{
    unsigned char fmt[FMT_LEN];
    bool text = is_text(v->type);

    if (text && v->u.s.len > r->slot)
        return -EFBIG;
    /* CPython's order: format and code first, then the value.  A number of
     * the same type (the common case) is a single 8-byte store. */
    format_for(v->type, r->slot, fmt);
    if (memcmp(r->fmt, fmt, FMT_LEN) != 0)
        memcpy(r->fmt, fmt, FMT_LEN);
    unsigned code = code_for(v->type);
    if (*r->code != code)
        *r->code = (unsigned char)code;
    if (text) {
        /* memmove: the value may come from this very slot. */
        if (v->u.s.len)
            memmove(r->data, v->u.s.ptr, v->u.s.len);
        memset(r->data + v->u.s.len, 0, r->slot - v->u.s.len);
    } else {
        store_word(r->data, word_for(v));
    }
    return 0;
}

int shmseg_list_set(shmseg_list *list, size_t i, const struct shmseg_value *v)
{
    struct slot_ref r;

    int err = value_check(v);
    if (err < 0)
        return err;
    if (!list->writable)
        return -EBADF;
    err = locate(list, i, &r);
    if (err < 0)
        return err;
    return store(&r, v);
}

ssize_t shmseg_list_get_text(const shmseg_list *list, size_t i, char *buf,
                             size_t cap)
{
    struct shmseg_value v;
    int err = shmseg_list_get(list, i, &v);
    if (err < 0)
        return err;
    return shmseg_value_format(&v, buf, cap);
}

int shmseg_list_set_text(shmseg_list *list, size_t i, const char *text,
                         size_t len)
{
    struct shmseg_value v;
    struct slot_ref r;

    if (!list->writable)
        return -EBADF;
    int err = locate(list, i, &r);
    if (err < 0)
        return err;
    /* A parsed value is one a list can hold: no value_check() needed. */
    err = shmseg_value_parse(r.type, text, len, &v);
    if (err < 0)
        return err;
    return store(&r, &v);
}

ssize_t shmseg_list_format(const shmseg_list *list, char *buf, size_t cap)
{
    struct slot_ref r;
    size_t total = 0;

    for (size_t i = 0; i < list->n; i++) {
        int err = locate(list, i, &r);
        if (err < 0)
            return err;
        size_t len = strnlen((const char *)r.fmt, FMT_LEN);
        if (total < cap) {
            size_t room = cap - total;
            memcpy(buf + total, r.fmt, len < room ? len : room);
        }
        total += len;
    }
    if (cap)
        buf[total < cap ? total : cap - 1] = '\0';
    return (ssize_t)total;
}
