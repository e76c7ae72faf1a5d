/*
 * shmseg_tool.c - a small command line over libshmseg's ShareableList, so
 * that tests/interop/test_list_interop.py can drive the C side of a list
 * that CPython shares.
 *
 *   shmseg_tool DIR create NAME      < spec lines     (one per element)
 *   shmseg_tool DIR dump NAME        > spec lines
 *   shmseg_tool DIR set NAME INDEX   < one spec line
 *   shmseg_tool DIR text NAME INDEX  > element text, byte-exact
 *   shmseg_tool DIR format NAME      > ShareableList.format
 *   shmseg_tool DIR unlink NAME
 *   shmseg_tool check FILE           > "valid N" | "invalid"
 *
 * A spec line is one value:  "int DEC", "float HEX16" (the IEEE bit pattern
 * as a 16-digit hex number), "bool 0|1", "none", "str HEX" (the UTF-8 bytes
 * in hex; empty allowed, as "str" or "str "), "bytes HEX".
 *
 * A library error prints "error: <what>: <text> [ENAME]" on stderr, where
 * ENAME is the errno name, so the test can tell EFBIG from EINVAL.  `dump`
 * prints "error ENAME" in place of an element it cannot read and goes on.
 *
 * Exit status: 0 done / valid, 1 `check` found no list, 2 library error,
 * 3 `set` refused by the library, 4 bad usage or spec.
 */
#include "shmseg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    EXIT_INVALID = 1,
    EXIT_LIBERR = 2,
    EXIT_SETERR = 3,
    EXIT_USAGE = 4,
};

/* --- errors ------------------------------------------------------------------ */

static const char *err_name(int err, char *buf, size_t cap)
{
    const char *s = strerrorname_np(err < 0 ? -err : err);
    if (s)
        return s;
    snprintf(buf, cap, "E%d", err < 0 ? -err : err);
    return buf;
}

static void report(const char *what, const char *name, int err)
{
    char nbuf[32];
    fprintf(stderr, "error: %s \"%s\": %s [%s]\n", what, name,
            shmseg_strerror(err), err_name(err, nbuf, sizeof(nbuf)));
}

/* Flush stdout; a failed write (full pipe, closed reader) is an error too. */
static int finish_stdout(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "error: writing standard output failed\n");
        return status ? status : EXIT_LIBERR;
    }
    return status;
}

/* --- input --------------------------------------------------------------------- */

/* Read all of @f into a malloc'd buffer, NUL-terminated (not counted). */
static int read_all(FILE *f, char **out, size_t *len_out)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);

    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (cap - len < 2) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                free(buf);
                return -EIO;
            }
            break;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *len_out = len;
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decode the NUL-terminated hex text @s in place (the bytes land at @s
 * itself: each output byte is written behind the two digits it came from).
 */
static int hex_decode(char *s, size_t *len_out)
{
    size_t n = 0;

    for (const char *p = s; *p; p += 2) {
        int hi = hex_digit(p[0]);
        int lo = hi < 0 ? -1 : hex_digit(p[1]);
        if (lo < 0)
            return -1;
        s[n++] = (char)(hi << 4 | lo);
    }
    *len_out = n;
    return 0;
}

/* Parse one NUL-terminated spec line; str/bytes point into @line. */
static int parse_spec(char *line, struct shmseg_value *v)
{
    char *arg = strchr(line, ' ');
    char *end;

    if (arg)
        *arg++ = '\0';
    memset(v, 0, sizeof(*v));
    if (strcmp(line, "int") == 0) {
        if (!arg || !*arg || (*arg != '-' && (*arg < '0' || *arg > '9')))
            return -1;
        errno = 0;
        long long x = strtoll(arg, &end, 10);
        if (errno || *end)
            return -1;
        v->type = SHMSEG_INT;
        v->u.i = x;
        return 0;
    }
    if (strcmp(line, "float") == 0) {
        uint64_t bits = 0;
        if (!arg || strlen(arg) != 16)
            return -1;
        for (int i = 0; i < 16; i++) {
            int d = hex_digit(arg[i]);
            if (d < 0)
                return -1;
            bits = bits << 4 | (uint64_t)d;
        }
        v->type = SHMSEG_FLOAT;
        memcpy(&v->u.f, &bits, sizeof(bits));
        return 0;
    }
    if (strcmp(line, "bool") == 0) {
        if (!arg || (strcmp(arg, "0") != 0 && strcmp(arg, "1") != 0))
            return -1;
        v->type = SHMSEG_BOOL;
        v->u.b = arg[0] == '1';
        return 0;
    }
    if (strcmp(line, "none") == 0) {
        if (arg)
            return -1;
        v->type = SHMSEG_NONE;
        return 0;
    }
    if (strcmp(line, "str") == 0 || strcmp(line, "bytes") == 0) {
        size_t len = 0;
        if (arg && hex_decode(arg, &len) < 0)
            return -1;
        v->type = line[0] == 's' ? SHMSEG_STR : SHMSEG_BYTES;
        v->u.s.ptr = arg ? arg : "";
        v->u.s.len = len;
        return 0;
    }
    return -1;
}

/*
 * Read spec lines from stdin into a malloc'd value array; the values' bytes
 * live in *@text, which the caller frees after the array.
 */
static int read_specs(char **text, struct shmseg_value **vals, size_t *n_out)
{
    char *buf;
    size_t len, n = 0, cap = 0;
    struct shmseg_value *v = NULL;

    int err = read_all(stdin, &buf, &len);
    if (err < 0) {
        fprintf(stderr, "error: reading standard input: %s\n",
                shmseg_strerror(err));
        return -1;
    }
    for (char *line = buf; line < buf + len;) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        char *next = nl ? nl + 1 : buf + len;
        if (nl)
            *nl = '\0';
        if (strlen(line) != (size_t)((nl ? nl : buf + len) - line)) {
            fprintf(stderr, "error: spec line %zu holds a NUL byte\n", n + 1);
            goto fail;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct shmseg_value *nv = reallocarray(v, ncap, sizeof(*v));
            if (!nv) {
                fprintf(stderr, "error: out of memory\n");
                goto fail;
            }
            v = nv;
            cap = ncap;
        }
        if (parse_spec(line, &v[n]) < 0) {
            fprintf(stderr, "error: bad spec line %zu\n", n + 1);
            goto fail;
        }
        n++;
        line = next;
    }
    *text = buf;
    *vals = v;
    *n_out = n;
    return 0;
fail:
    free(v);
    free(buf);
    return -1;
}

/* --- output -------------------------------------------------------------------- */

static void put_hex(const char *p, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char chunk[512];
    size_t k = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        chunk[k++] = digits[c >> 4];
        chunk[k++] = digits[c & 15];
        if (k == sizeof(chunk)) {
            fwrite(chunk, 1, k, stdout);
            k = 0;
        }
    }
    fwrite(chunk, 1, k, stdout);
}

static void put_spec(const struct shmseg_value *v)
{
    uint64_t bits;

    switch (v->type) {
    case SHMSEG_INT:
        printf("int %" PRId64 "\n", v->u.i);
        return;
    case SHMSEG_FLOAT:
        memcpy(&bits, &v->u.f, sizeof(bits));
        printf("float %016" PRIx64 "\n", bits);
        return;
    case SHMSEG_BOOL:
        printf("bool %d\n", v->u.b ? 1 : 0);
        return;
    case SHMSEG_NONE:
        printf("none\n");
        return;
    case SHMSEG_STR:
    case SHMSEG_BYTES:
        fputs(v->type == SHMSEG_STR ? "str " : "bytes ", stdout);
        put_hex(v->u.s.ptr, v->u.s.len);
        putchar('\n');
        return;
    }
    printf("error unknown-type\n");
}

/* --- commands ------------------------------------------------------------------ */

static int parse_index(const char *s, size_t *out)
{
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end || x > SIZE_MAX)
        return -1;
    *out = (size_t)x;
    return 0;
}

static int close_list(shmseg_list *l, const char *name, int status)
{
    int err = shmseg_list_close(l);
    if (err < 0) {
        report("close", name, err);
        return status ? status : EXIT_LIBERR;
    }
    return status;
}

static int cmd_create(const shmseg_ns *ns, const char *name)
{
    char *text;
    struct shmseg_value *vals;
    size_t n;
    shmseg_list *l;

    if (read_specs(&text, &vals, &n) < 0)
        return EXIT_USAGE;
    int err = shmseg_list_create(ns, name, vals, n, 0600, &l);
    free(vals);
    free(text);
    if (err < 0) {
        report("create", name, err);
        return EXIT_LIBERR;
    }
    return close_list(l, name, 0);
}

static int cmd_dump(const shmseg_ns *ns, const char *name)
{
    shmseg_list *l;
    int status = 0;
    char nbuf[32];

    int err = shmseg_list_attach(ns, name, SHMSEG_RDONLY, &l);
    if (err < 0) {
        report("attach", name, err);
        return EXIT_LIBERR;
    }
    for (size_t i = 0; i < shmseg_list_len(l); i++) {
        struct shmseg_value v;
        err = shmseg_list_get(l, i, &v);
        if (err < 0) {
            printf("error %s\n", err_name(err, nbuf, sizeof(nbuf)));
            report("get", name, err);
            status = EXIT_LIBERR;
            continue;
        }
        put_spec(&v);
    }
    return finish_stdout(close_list(l, name, status));
}

static int cmd_set(const shmseg_ns *ns, const char *name, const char *index)
{
    char *text;
    struct shmseg_value *vals;
    size_t n, i;
    shmseg_list *l;
    char nbuf[32];
    int status = 0;

    if (parse_index(index, &i) < 0) {
        fprintf(stderr, "error: bad index \"%s\"\n", index);
        return EXIT_USAGE;
    }
    if (read_specs(&text, &vals, &n) < 0)
        return EXIT_USAGE;
    if (n != 1) {
        fprintf(stderr, "error: set takes exactly one spec line\n");
        status = EXIT_USAGE;
        goto out;
    }
    int err = shmseg_list_attach(ns, name, 0, &l);
    if (err < 0) {
        report("attach", name, err);
        status = EXIT_LIBERR;
        goto out;
    }
    err = shmseg_list_set(l, i, &vals[0]);
    if (err < 0) {
        printf("%s\n", err_name(err, nbuf, sizeof(nbuf)));
        report("set", name, err);
        status = EXIT_SETERR;
    }
    status = finish_stdout(close_list(l, name, status));
out:
    free(vals);
    free(text);
    return status;
}

static int cmd_text(const shmseg_ns *ns, const char *name, const char *index)
{
    shmseg_list *l;
    size_t i, cap = 64;
    char *buf = NULL;
    int status = 0;

    if (parse_index(index, &i) < 0) {
        fprintf(stderr, "error: bad index \"%s\"\n", index);
        return EXIT_USAGE;
    }
    int err = shmseg_list_attach(ns, name, SHMSEG_RDONLY, &l);
    if (err < 0) {
        report("attach", name, err);
        return EXIT_LIBERR;
    }
    for (;;) {
        char *nb = realloc(buf, cap);
        if (!nb) {
            report("text", name, -ENOMEM);
            status = EXIT_LIBERR;
            break;
        }
        buf = nb;
        ssize_t len = shmseg_list_get_text(l, i, buf, cap);
        if (len < 0) {
            report("text", name, (int)len);
            status = EXIT_LIBERR;
            break;
        }
        if ((size_t)len <= cap) {
            fwrite(buf, 1, (size_t)len, stdout);
            break;
        }
        cap = (size_t)len;
    }
    free(buf);
    return finish_stdout(close_list(l, name, status));
}

static int cmd_format(const shmseg_ns *ns, const char *name)
{
    shmseg_list *l;
    char small[1];
    int status = 0;

    int err = shmseg_list_attach(ns, name, SHMSEG_RDONLY, &l);
    if (err < 0) {
        report("attach", name, err);
        return EXIT_LIBERR;
    }
    ssize_t len = shmseg_list_format(l, small, sizeof(small));
    char *buf = len < 0 ? NULL : malloc((size_t)len + 1);
    if (len < 0) {
        report("format", name, (int)len);
        status = EXIT_LIBERR;
    } else if (!buf) {
        report("format", name, -ENOMEM);
        status = EXIT_LIBERR;
    } else {
        ssize_t len2 = shmseg_list_format(l, buf, (size_t)len + 1);
        if (len2 != len || strlen(buf) != (size_t)len) {
            fprintf(stderr, "error: format \"%s\": length changed\n", name);
            status = EXIT_LIBERR;
        } else {
            printf("%s\n", buf);
        }
    }
    free(buf);
    return finish_stdout(close_list(l, name, status));
}

static int cmd_unlink(const shmseg_ns *ns, const char *name)
{
    int err = shmseg_unlink(ns, name);
    if (err < 0) {
        report("unlink", name, err);
        return EXIT_LIBERR;
    }
    return 0;
}

/*
 * Check the bytes of @path twice: in a buffer of exactly their size (so a
 * sanitizer catches any read past the end) and at an odd address (the
 * checker promises not to need alignment).  Both must agree.
 */
static int cmd_check(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text, *exact = NULL, *odd = NULL;
    size_t len, n1 = 0, n2 = 0;
    int status = 0;

    if (!f) {
        report("open", path, -errno);
        return EXIT_LIBERR;
    }
    int err = read_all(f, &text, &len);
    fclose(f);
    if (err < 0) {
        report("read", path, err);
        return EXIT_LIBERR;
    }
    exact = malloc(len ? len : 1);
    odd = malloc(len + 1);
    if (!exact || !odd) {
        report("check", path, -ENOMEM);
        status = EXIT_LIBERR;
        goto out;
    }
    memcpy(exact, text, len);
    memcpy(odd + 1, text, len);
    int r1 = shmseg_list_check(exact, len, &n1);
    int r2 = shmseg_list_check(odd + 1, len, &n2);
    if (r1 != r2 || n1 != n2 || (r1 < 0 && r1 != -EBADMSG)) {
        fprintf(stderr, "error: check \"%s\": inconsistent (%d/%zu, %d/%zu)\n",
                path, r1, n1, r2, n2);
        status = EXIT_LIBERR;
        goto out;
    }
    if (r1 == 0) {
        printf("valid %zu\n", n1);
    } else {
        printf("invalid\n");
        status = EXIT_INVALID;
    }
    status = finish_stdout(status);
out:
    free(odd);
    free(exact);
    free(text);
    return status;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: shmseg_tool DIR create|dump|format|unlink NAME\n"
            "       shmseg_tool DIR set|text NAME INDEX\n"
            "       shmseg_tool check FILE\n");
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    shmseg_ns *ns;
    int status;

    if (argc == 3 && strcmp(argv[1], "check") == 0)
        return cmd_check(argv[2]);
    if (argc < 4)
        return usage();

    const char *cmd = argv[2], *name = argv[3];
    int want = strcmp(cmd, "set") == 0 || strcmp(cmd, "text") == 0 ? 5 : 4;
    if (argc != want)
        return usage();

    int err = shmseg_ns_open(argv[1], &ns);
    if (err < 0) {
        report("open namespace", argv[1], err);
        return EXIT_LIBERR;
    }
    if (strcmp(cmd, "create") == 0)
        status = cmd_create(ns, name);
    else if (strcmp(cmd, "dump") == 0)
        status = cmd_dump(ns, name);
    else if (strcmp(cmd, "set") == 0)
        status = cmd_set(ns, name, argv[4]);
    else if (strcmp(cmd, "text") == 0)
        status = cmd_text(ns, name, argv[4]);
    else if (strcmp(cmd, "format") == 0)
        status = cmd_format(ns, name);
    else if (strcmp(cmd, "unlink") == 0)
        status = cmd_unlink(ns, name);
    else
        status = usage();
    shmseg_ns_close(ns);
    return status;
}
