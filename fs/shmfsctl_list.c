/*
 * shmfsctl_list.c - the "shmfsctl list" subcommands: show, get, set, new,
 * format.  Element text follows the rules of shmfs's element files
 * (shmseg_list_get_text / shmseg_list_set_text); the layout itself is
 * libshmseg's business.
 */
#include "shmfsctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Attach the list @name; says why not.  Returns 0 or EXIT_FAIL. */
static int attach(shmseg_ns *ns, const char *name, int flags,
                  shmseg_list **out)
{
    int err = shmseg_list_attach(ns, name, flags, out);
    if (err == -EBADMSG)
        msg("segment %s is not a list: %s", qname(name), reason(err));
    else if (err < 0)
        msg("cannot open list %s: %s", qname(name), reason(err));
    return err < 0 ? EXIT_FAIL : 0;
}

/* The element text of @i into a malloc'd buffer; *@len its length. */
static int element_text(const shmseg_list *l, size_t i, char **out,
                        size_t *len)
{
    char small[256];
    ssize_t n = shmseg_list_get_text(l, i, small, sizeof(small));
    if (n < 0)
        return (int)n;
    char *buf = malloc((size_t)n + 1);
    if (!buf)
        return -ENOMEM;
    if ((size_t)n <= sizeof(small)) {
        memcpy(buf, small, (size_t)n);
    } else {
        ssize_t m = shmseg_list_get_text(l, i, buf, (size_t)n);
        if (m < 0 || m > n) { /* changed meanwhile */
            free(buf);
            return m < 0 ? (int)m : -EAGAIN;
        }
        n = m;
    }
    *out = buf;
    *len = (size_t)n;
    return 0;
}

/* Parse INDEX for list @name; says why not.  0, EXIT_FAIL or EXIT_USAGE. */
static int index_arg(const shmseg_list *l, const char *cmd, const char *name,
                     const char *text, size_t *i)
{
    if (parse_index(text, i) < 0) {
        char *e = escape_human(text, strlen(text), true);
        int rc = usage_error(cmd, "%s: invalid index %s (a number from 0)",
                             cmd, e ? e : "");
        free(e);
        return rc;
    }
    if (*i >= shmseg_list_len(l)) {
        msg("list %s has no element %zu (it has %zu)", qname(name), *i,
            shmseg_list_len(l));
        return EXIT_FAIL;
    }
    return 0;
}

static void element_error(const shmseg_list *l, const char *verb, size_t i,
                          const char *name, int err)
{
    msg("cannot %s element %zu of list %s: %s", verb, i, qname(name),
        reason(err));
    (void)l;
}

/* --- list show --------------------------------------------------------------- */

static int run_show(shmseg_ns *ns, const struct args *a)
{
    const char *name = a->pos[0];
    shmseg_list *l;
    int rc = EXIT_OK;

    if (attach(ns, name, SHMSEG_RDONLY, &l))
        return EXIT_FAIL;
    static const bool right[] = {true, false, false};
    static const char *const head[] = {"INDEX", "TYPE", "VALUE"};
    struct table t;
    table_init(&t, 3, right);
    table_row(&t, head);
    for (size_t i = 0; i < shmseg_list_len(l); i++) {
        enum shmseg_type type;
        char idx[32], *text = NULL, *shown;
        size_t len;
        int err = shmseg_list_type(l, i, &type);
        if (err == 0)
            err = element_text(l, i, &text, &len);
        if (err < 0) {
            element_error(l, "read", i, name, err);
            rc = EXIT_FAIL;
            break;
        }
        /* Text types end in one newline; bytes are shown escaped. */
        if (type != SHMSEG_BYTES && len > 0 && text[len - 1] == '\n')
            len--;
        shown = escape_human(text, len, type == SHMSEG_BYTES);
        free(text);
        snprintf(idx, sizeof(idx), "%zu", i);
        const char *row[] = {idx, shmseg_type_name(type), shown ? shown : "?"};
        table_row(&t, row);
        free(shown);
    }
    if (rc == EXIT_OK)
        table_print(&t, stdout);
    table_free(&t);
    shmseg_list_close(l);
    return rc;
}

const struct subcmd cmd_list_show = {
    .name = "list show",
    .usage = "usage: shmfsctl list show NAME [--dir DIR]\n"
             "\n"
             "Print every element of the ShareableList NAME: index, type and value\n"
             "(str as text, bytes quoted; non-printable bytes escaped as \\xHH).\n",
    .min_pos = 1,
    .max_pos = 1,
    .run = run_show,
};

/* --- list get ---------------------------------------------------------------- */

static int run_get(shmseg_ns *ns, const struct args *a)
{
    const char *name = a->pos[0];
    shmseg_list *l;
    size_t i, len;
    char *text;

    if (attach(ns, name, SHMSEG_RDONLY, &l))
        return EXIT_FAIL;
    int rc = index_arg(l, "list get", name, a->pos[1], &i);
    if (rc == 0) {
        int err = element_text(l, i, &text, &len);
        if (err < 0) {
            element_error(l, "read", i, name, err);
            rc = EXIT_FAIL;
        } else {
            if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
                msg("cannot write element %zu of list %s: %s", i,
                    qname(name), reason(-errno));
                rc = EXIT_FAIL;
            }
            free(text);
        }
    }
    shmseg_list_close(l);
    return rc;
}

const struct subcmd cmd_list_get = {
    .name = "list get",
    .usage = "usage: shmfsctl list get NAME INDEX [--dir DIR]\n"
             "\n"
             "Print element INDEX of the ShareableList NAME exactly as shmfs's element\n"
             "file reads: int in decimal, float as Python's repr(), True/False, None,\n"
             "str as UTF-8 - each followed by one newline - and bytes raw.\n",
    .min_pos = 2,
    .max_pos = 2,
    .run = run_get,
};

/* --- list set ---------------------------------------------------------------- */

static int run_set(shmseg_ns *ns, const struct args *a)
{
    const char *name = a->pos[0], *text = a->pos[2];
    enum shmseg_type type;
    shmseg_list *l;
    size_t i;

    if (attach(ns, name, 0, &l))
        return EXIT_FAIL;
    int rc = index_arg(l, "list set", name, a->pos[1], &i);
    if (rc != 0)
        goto out;
    int err = shmseg_list_type(l, i, &type);
    if (err == 0)
        err = shmseg_list_set_text(l, i, text, strlen(text));
    if (err == 0)
        goto out;
    rc = EXIT_FAIL;
    char *e = escape_human(text, strlen(text), true);
    switch (err) {
    case -EINVAL:
        msg("cannot set element %zu of list %s: %s is not a valid %s", i,
            qname(name), e ? e : "", shmseg_type_name(type));
        break;
    case -ERANGE:
        msg("cannot set element %zu of list %s: %s is out of range for %s", i,
            qname(name), e ? e : "", shmseg_type_name(type));
        break;
    case -EFBIG:
        msg("cannot set element %zu of list %s: the value does not fit the "
            "element's slot (a str or bytes slot cannot grow)", i,
            qname(name));
        break;
    default:
        element_error(l, "set", i, name, err);
    }
    free(e);
out:
    shmseg_list_close(l);
    return rc;
}

const struct subcmd cmd_list_set = {
    .name = "list set",
    .usage = "usage: shmfsctl list set NAME INDEX TEXT [--dir DIR]\n"
             "\n"
             "Parse TEXT as the current type of element INDEX and store it, as writing\n"
             "shmfs's element file does: int decimal, float as Python's float(),\n"
             "True/False, None, str as UTF-8, bytes as given.  One trailing newline is\n"
             "dropped except for bytes.  A str or bytes must fit the element's slot.\n"
             "TEXT is taken as it is, even if it starts with '-' (\"-5\", \"-h\",\n"
             "\"--x\"); only -- itself ends the options (then give the TEXT after it).\n",
    .min_pos = 3,
    .max_pos = 3,
    .dash_values = true,
    .value_pos = 2,
    .run = run_set,
};

/* --- list new ---------------------------------------------------------------- */

enum { NEW_NAME, NEW_STR, NEW_BYTES, NEW_MODE };

static const struct optspec NEW_OPTS[] = {
    [NEW_NAME] = {"name", 0, true},
    [NEW_STR] = {"str", 0, false},
    [NEW_BYTES] = {"bytes", 0, false},
    [NEW_MODE] = {"mode", 0, true},
    {0},
};

/* Type @text as the command line means it: an int, a float, True/False,
 * None, else a str.  Returns 0 or the error of the type it looked like,
 * that type in *@tried. */
static int type_value(const char *text, struct shmseg_value *v,
                      enum shmseg_type *tried)
{
    size_t len = strlen(text);
    *tried = SHMSEG_INT;
    int err = shmseg_value_parse(SHMSEG_INT, text, len, v);
    if (err != -EINVAL)
        return err; /* an int, or an int too large (-ERANGE) */
    *tried = SHMSEG_FLOAT;
    err = shmseg_value_parse(SHMSEG_FLOAT, text, len, v);
    if (err != -EINVAL)
        return err; /* a float, or one beyond a double (-ERANGE) */
    if (shmseg_value_parse(SHMSEG_BOOL, text, len, v) == 0 ||
        shmseg_value_parse(SHMSEG_NONE, text, len, v) == 0)
        return 0;
    *tried = SHMSEG_STR;
    return shmseg_value_parse(SHMSEG_STR, text, len, v);
}

/* Why value @k (@text) cannot be a @type: a message. */
static void value_error(int k, const char *text, enum shmseg_type type,
                        int err)
{
    char *e = escape_human(text, strlen(text), true);
    if (err == -ERANGE && type == SHMSEG_INT)
        msg("cannot use value %d, %s: out of range for int (64 bits)", k,
            e ? e : "");
    else if (err == -ERANGE)
        msg("cannot use value %d, %s: out of range for %s", k, e ? e : "",
            shmseg_type_name(type));
    else if (err == -EINVAL && type == SHMSEG_STR)
        msg("cannot use value %d, %s: not valid UTF-8 (use --bytes)", k,
            e ? e : "");
    else
        msg("cannot use value %d, %s: %s", k, e ? e : "", reason(err));
    free(e);
}

static int run_new(shmseg_ns *ns, const struct args *a)
{
    const char *name = opt_set(a, NEW_NAME) ? a->val[NEW_NAME] : NULL;
    bool as_str = opt_set(a, NEW_STR), as_bytes = opt_set(a, NEW_BYTES);
    mode_t mode = 0600;

    if (as_str && as_bytes)
        return usage_error("list new", "list new: --str and --bytes exclude "
                                       "each other");
    if (opt_set(a, NEW_MODE)) {
        char *end;
        unsigned long m = strtoul(a->val[NEW_MODE], &end, 8);
        if (!*a->val[NEW_MODE] || *end || m > 07777)
            return usage_error("list new", "list new: invalid mode '%s' "
                                           "(octal, e.g. 0600)",
                               a->val[NEW_MODE]);
        mode = (mode_t)m;
    }
    if (name && shmseg_name_check(name) < 0) {
        /* Refused, as for every other command given a bad NAME. */
        msg("cannot create list %s: %s", qname(name),
            reason(shmseg_name_check(name)));
        return EXIT_FAIL;
    }
    struct shmseg_value *v = calloc((size_t)a->npos + 1, sizeof(*v));
    if (!v) {
        msg("out of memory");
        return EXIT_FAIL;
    }
    for (int k = 0; k < a->npos; k++) {
        const char *text = a->pos[k];
        enum shmseg_type tried = SHMSEG_STR;
        int err;
        if (as_bytes) {
            v[k].type = SHMSEG_BYTES;
            v[k].u.s.ptr = text;
            v[k].u.s.len = strlen(text);
            err = 0;
        } else if (as_str) {
            err = shmseg_value_parse(SHMSEG_STR, text, strlen(text), &v[k]);
        } else {
            err = type_value(text, &v[k], &tried);
        }
        if (err < 0) {
            value_error(k, text, tried, err);
            free(v);
            return EXIT_FAIL;
        }
    }
    /* Permission bits as asked: the list is created for someone else to
     * share, so the caller's umask does not narrow them. */
    mode_t old = umask(0);
    shmseg_list *l;
    int err = shmseg_list_create(ns, name, v, (size_t)a->npos, mode, &l);
    umask(old);
    free(v);
    if (err < 0) {
        if (name)
            msg("cannot create list %s: %s", qname(name), reason(err));
        else
            msg("cannot create a list: %s", reason(err));
        return EXIT_FAIL;
    }
    const char *made = shmseg_name(shmseg_list_segment(l));
    char *e = escape_human(made, strlen(made), false);
    printf("%s\n", e ? e : made);
    free(e);
    shmseg_list_close(l);
    return EXIT_OK;
}

const struct subcmd cmd_list_new = {
    .name = "list new",
    .usage = "usage: shmfsctl list new [--name NAME] [--str|--bytes] [--mode OCTAL]\n"
             "                         [--dir DIR] [--] [VALUE...]\n"
             "\n"
             "Create a ShareableList holding the VALUEs, as Python's ShareableList()\n"
             "lays it out, and print its name (psm_ + 8 hex digits unless --name).\n"
             "Each VALUE is typed from its text: 42 is an int, 2.5 (or 1e3, inf, nan)\n"
             "a float, True/False a bool, None is None, anything else a str.  --str\n"
             "or --bytes makes every VALUE a str or bytes.  As when writing an element\n"
             "file, one trailing newline of a VALUE is dropped (not with --bytes).\n"
             "Mode defaults to 0600.\n",
    .opts = NEW_OPTS,
    .max_pos = -1,
    .dash_values = true,
    .run = run_new,
};

/* --- list format ------------------------------------------------------------- */

static int run_format(shmseg_ns *ns, const struct args *a)
{
    const char *name = a->pos[0];
    shmseg_list *l;
    int rc = EXIT_OK;

    if (attach(ns, name, SHMSEG_RDONLY, &l))
        return EXIT_FAIL;
    ssize_t n = shmseg_list_format(l, NULL, 0);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (n < 0 || !buf || shmseg_list_format(l, buf, (size_t)n + 1) != n) {
        msg("cannot read the format of list %s: %s", qname(name),
            reason(n < 0 ? (int)n : -ENOMEM));
        rc = EXIT_FAIL;
    } else {
        printf("%s\n", buf);
    }
    free(buf);
    shmseg_list_close(l);
    return rc;
}

const struct subcmd cmd_list_format = {
    .name = "list format",
    .usage = "usage: shmfsctl list format NAME [--dir DIR]\n"
             "\n"
             "Print the struct format of the ShareableList NAME, as Python's\n"
             "ShareableList.format (\"q8sd\"...).\n",
    .min_pos = 1,
    .max_pos = 1,
    .run = run_format,
};
