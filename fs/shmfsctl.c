/*
 * shmfsctl.c - the shmfsctl admin command: entry point, subcommand table,
 * command-line parsing, and the helpers every subcommand uses (messages,
 * escaping, durations, tables).  The subcommands themselves live in
 * shmfsctl_seg.c (ls, who, orphans, gc, metrics) and shmfsctl_list.c
 * (list show/get/set/new/format).
 */
#include "shmfsctl.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef SHMFS_VERSION
#define SHMFS_VERSION "unknown"
#endif

static const char MAIN_USAGE[] =
    "usage: shmfsctl [--dir DIR] COMMAND [ARGS...]\n"
    "\n"
    "Inspect and clean up POSIX shared-memory segments (default directory\n"
    SHMSEG_DEFAULT_DIR "), with or without a shmfs mount.\n"
    "\n"
    "commands:\n"
    "  ls [-l] [--json]                  list segments\n"
    "  who NAME [--json]                 processes that map or hold a segment\n"
    "  orphans [--older-than D] [--json] segments nobody maps or holds open\n"
    "  gc [--older-than D] [--dry-run]   unlink orphaned segments\n"
    "  list show|get|set|new|format ...  ShareableList elements\n"
    "  metrics                           Prometheus text exposition\n"
    "\n"
    "Every command takes --dir DIR and --help.  Exit status: 0 success,\n"
    "1 not found, refused or failed, 2 usage error.  See shmfsctl(1).\n";

static const char LIST_USAGE[] =
    "usage: shmfsctl list show NAME\n"
    "       shmfsctl list get NAME INDEX\n"
    "       shmfsctl list set NAME INDEX TEXT\n"
    "       shmfsctl list new [--name NAME] [--str|--bytes] [VALUE...]\n"
    "       shmfsctl list format NAME\n"
    "\n"
    "Read, write and create ShareableLists with the text rules of shmfs's\n"
    "element files.  Each subcommand takes --dir DIR and --help.\n";

/* --- messages --------------------------------------------------------------- */

void msg(const char *fmt, ...)
{
    va_list ap;
    fputs("shmfsctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("shmfsctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'shmfsctl %s%s--help'.\n", cmd ? cmd : "",
            cmd ? " " : "");
    return EXIT_USAGE;
}

const char *reason(int err)
{
    static char buf[128];
    snprintf(buf, sizeof(buf), "%s", shmseg_strerror(err));
    /* "Permission denied" reads "permission denied" mid-sentence; keep
     * words that are capitalised for their own sake ("ShareableList"). */
    if (buf[0] >= 'A' && buf[0] <= 'Z' && buf[1] >= 'a' && buf[1] <= 'z')
        buf[0] = (char)(buf[0] - 'A' + 'a');
    return buf;
}

/* Length of the valid UTF-8 sequence at @s (at most @n bytes), 0 if there
 * is none: no overlongs, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

char *escape_human(const char *s, size_t len, bool quote)
{
    const unsigned char *p = (const unsigned char *)s;
    char *out = malloc(4 * len + 3), *w = out;
    if (!out)
        return NULL;
    if (quote)
        *w++ = '"';
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t n = utf8_len(p + i, len - i);
        if (c == '\\' || (quote && c == '"')) {
            *w++ = '\\';
            *w++ = (char)c;
        } else if (c == '\n') {
            w = stpcpy(w, "\\n");
        } else if (c == '\t') {
            w = stpcpy(w, "\\t");
        } else if (n > 1 || (n == 1 && c >= 0x20 && c < 0x7f)) {
            memcpy(w, p + i, n);
            w += n;
            i += n;
            continue;
        } else {
            w += sprintf(w, "\\x%02x", c);
        }
        i++;
    }
    if (quote)
        *w++ = '"';
    *w = '\0';
    return out;
}

const char *qname(const char *name)
{
    static char *bufs[4];
    static unsigned next;
    char **b = &bufs[next++ % 4];
    free(*b);
    *b = escape_human(name, strlen(name), true);
    return *b ? *b : "\"?\"";
}

/* How write_quoted() escapes: JSON, or a Prometheus label value. */
enum quoting { Q_JSON, Q_PROM };

/*
 * Write @len bytes at @s in double quotes.  Both styles escape '"', '\\'
 * and newline, and keep valid UTF-8 as it is.  JSON also escapes \t and
 * other control characters (\u00XX) and writes every byte that is not part
 * of valid UTF-8 as \udcXX, the lone surrogate Python's "surrogateescape"
 * error handler uses, so that name.encode("utf-8", "surrogateescape")
 * gives back the exact bytes and no two names read the same.  Prometheus
 * label values must be UTF-8: such a byte becomes U+FFFD there.
 */
static void write_quoted(FILE *f, const char *s, size_t len, enum quoting q)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t n = utf8_len(p + i, len - i);
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (q == Q_JSON && c == '\t')
            fputs("\\t", f);
        else if (q == Q_JSON && (c < 0x20 || c == 0x7f))
            fprintf(f, "\\u%04x", c);
        else if (n == 0 && q == Q_JSON)
            fprintf(f, "\\udc%02x", c);
        else if (n == 0)
            fputs("\xef\xbf\xbd", f);
        else {
            fwrite(p + i, 1, n, f);
            i += n;
            continue;
        }
        i++;
    }
    fputc('"', f);
}

void json_str(FILE *f, const char *s, size_t len)
{
    write_quoted(f, s, len, Q_JSON);
}

void prom_label(FILE *f, const char *s)
{
    write_quoted(f, s, strlen(s), Q_PROM);
}

/* --- values ------------------------------------------------------------------- */

int parse_duration(const char *text, int64_t *out)
{
    static const char units[] = "dhms";
    static const int64_t secs[] = {86400, 3600, 60, 1};
    int64_t total = 0;
    const char *p = text;
    int next = 0; /* index in units of the largest unit still allowed */

    if (!*p)
        return -EINVAL;
    while (*p) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n > (INT64_MAX - 9) / 10)
                return -ERANGE;
            n = 10 * n + (*p++ - '0');
        }
        int64_t unit;
        if (!*p) {
            if (next != 0)
                return -EINVAL; /* "1h30": a unit is needed after the first */
            unit = 1;
        } else {
            /* Units from the largest down, each at most once ("1h30m",
             * not "30m1h" or "1d1d"). */
            const char *u = strchr(units, *p);
            if (!u || !*u || u - units < next)
                return -EINVAL;
            next = (int)(u - units) + 1;
            unit = secs[u - units];
            p++;
        }
        if (n > (INT64_MAX - total) / unit)
            return -ERANGE;
        total += n * unit;
    }
    *out = total;
    return 0;
}

void format_duration(int64_t secs, char *buf, size_t cap)
{
    static const struct { int64_t len; char unit; } units[] = {
        {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    size_t used = 0;
    int shown = 0;

    if (cap)
        buf[0] = '\0';
    for (size_t i = 0; i < 4 && shown < 2; i++) {
        int64_t n = secs / units[i].len;
        if (n == 0 && !(i == 3 && shown == 0))
            continue;
        secs -= n * units[i].len;
        int w = snprintf(buf + used, cap - used, "%lld%c", (long long)n,
                         units[i].unit);
        if (w < 0 || (size_t)w >= cap - used)
            return;
        used += (size_t)w;
        shown++;
    }
}

int parse_index(const char *text, size_t *out)
{
    size_t n = 0;
    if (!*text)
        return -EINVAL;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        if (n > (SIZE_MAX - 9) / 10)
            return -ERANGE;
        n = 10 * n + (size_t)(*p - '0');
    }
    *out = n;
    return 0;
}

/* --- tables and fields ----------------------------------------------------- */

void table_init(struct table *t, size_t ncols, const bool *right)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    t->right = right;
}

int table_row(struct table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 32;
        char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));
        if (!c)
            return -ENOMEM;
        t->cells = c;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = strdup(cells[i]);
        if (!row[i]) {
            while (i--)
                free(row[i]);
            return -ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

void table_print(const struct table *t, FILE *f)
{
    size_t *w = calloc(t->ncols, sizeof(*w));
    if (!w)
        return;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t cw = width(t->cells[r * t->ncols + c]);
            if (cw > w[c])
                w[c] = cw;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            size_t pad = w[c] - width(cell);
            bool last = c + 1 == t->ncols;
            if (t->right && t->right[c])
                fprintf(f, "%*s%s", (int)pad, "", cell);
            else
                fprintf(f, "%s%*s", cell, last ? 0 : (int)pad, "");
            if (!last)
                fputs("  ", f);
        }
        fputc('\n', f);
    }
    free(w);
}

void table_free(struct table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

void format_time(const struct timespec *ts, bool utc, char *buf, size_t cap)
{
    struct tm tm;
    time_t t = ts->tv_sec;
    if (!(utc ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)) ||
        !strftime(buf, cap, utc ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M",
                  &tm))
        snprintf(buf, cap, "%lld", (long long)t);
}

void user_name(uid_t uid, char *buf, size_t cap)
{
    struct passwd pw, *res = NULL;
    char tmp[1024];
    if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
        snprintf(buf, cap, "%s", pw.pw_name);
    else
        snprintf(buf, cap, "%u", (unsigned)uid);
}

void group_name(gid_t gid, char *buf, size_t cap)
{
    struct group gr, *res = NULL;
    char tmp[1024];
    if (getgrgid_r(gid, &gr, tmp, sizeof(tmp), &res) == 0 && res)
        snprintf(buf, cap, "%s", gr.gr_name);
    else
        snprintf(buf, cap, "%u", (unsigned)gid);
}

/* --- command line -------------------------------------------------------------- */

static const struct optspec *find_long(const struct optspec *o,
                                       const char *name, size_t len, int *i)
{
    for (*i = 0; o && o[*i].name; (*i)++)
        if (strlen(o[*i].name) == len && strncmp(o[*i].name, name, len) == 0)
            return &o[*i];
    return NULL;
}

static const struct optspec *find_short(const struct optspec *o, char c,
                                        int *i)
{
    for (*i = 0; o && o[*i].name; (*i)++)
        if (o[*i].short_name && o[*i].short_name == c)
            return &o[*i];
    return NULL;
}

/*
 * Options anywhere among the arguments, "--" ends them.  "--opt=VAL" and
 * "--opt VAL" both work; short options stand alone ("-l").  With
 * @dash_values, an argument that starts with a single '-' and is not a
 * known short option is a value ("-5", "-inf"); the positional argument
 * number @value_pos (if > 0) is a value whatever it looks like.
 */
static int parse(const struct subcmd *cmd, int argc, char **argv,
                 struct args *a)
{
    bool opts_done = false;
    a->pos = calloc((size_t)argc + 1, sizeof(*a->pos));
    if (!a->pos) {
        msg("out of memory");
        return EXIT_FAIL;
    }
    for (int k = 1; k < argc; k++) {
        char *arg = argv[k];
        const struct optspec *o = NULL;
        const char *val = NULL;
        int i = -1;

        if (strcmp(arg, "--") == 0 && !opts_done) {
            opts_done = true;
            continue;
        }
        if (opts_done || arg[0] != '-' || arg[1] == '\0' ||
            (cmd->value_pos > 0 && a->npos == cmd->value_pos)) {
            a->pos[a->npos++] = arg;
            continue;
        }
        if (arg[1] == '-') {
            const char *name = arg + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (len == 4 && strncmp(name, "help", 4) == 0 && !eq) {
                a->help = true;
                continue;
            }
            if (len == 3 && strncmp(name, "dir", 3) == 0) {
                i = MAX_OPTS; /* the common --dir */
            } else {
                o = find_long(cmd->opts, name, len, &i);
                if (!o)
                    return usage_error(cmd->name, "%s: unknown option '%.*s'",
                                       cmd->name, (int)len + 2, arg);
            }
            bool has_arg = o ? o->has_arg : true;
            if (eq && !has_arg)
                return usage_error(cmd->name,
                                   "%s: option '--%s' takes no argument",
                                   cmd->name, o->name);
            if (has_arg) {
                if (eq)
                    val = eq + 1;
                else if (k + 1 < argc)
                    val = argv[++k];
                else
                    return usage_error(cmd->name,
                                       "%s: option '%s' needs an argument",
                                       cmd->name, arg);
            }
        } else {
            if (arg[1] == 'h' && arg[2] == '\0') {
                a->help = true;
                continue;
            }
            o = arg[2] == '\0' ? find_short(cmd->opts, arg[1], &i) : NULL;
            if (!o) {
                if (cmd->dash_values) {
                    a->pos[a->npos++] = arg;
                    continue;
                }
                return usage_error(cmd->name, "%s: unknown option '%s'",
                                   cmd->name, arg);
            }
            if (o->has_arg) {
                if (k + 1 >= argc)
                    return usage_error(cmd->name,
                                       "%s: option '%s' needs an argument",
                                       cmd->name, arg);
                val = argv[++k];
            }
        }
        if (i == MAX_OPTS)
            a->dir = val;
        else
            a->val[i] = val ? val : "";
    }
    return EXIT_OK;
}

int run_subcmd(const struct subcmd *cmd, const char *dir, int argc,
               char **argv)
{
    struct args a = {.dir = dir};
    shmseg_ns *ns = NULL;
    int rc = parse(cmd, argc, argv, &a);

    if (rc != EXIT_OK)
        goto out;
    if (a.help) {
        fputs(cmd->usage, stdout);
        goto out;
    }
    if (a.npos < cmd->min_pos) {
        rc = usage_error(cmd->name, "%s: missing argument", cmd->name);
        goto out;
    }
    if (cmd->max_pos >= 0 && a.npos > cmd->max_pos) {
        char *e = escape_human(a.pos[cmd->max_pos],
                               strlen(a.pos[cmd->max_pos]), true);
        rc = usage_error(cmd->name, "%s: unexpected argument %s", cmd->name,
                         e ? e : "");
        free(e);
        goto out;
    }
    if (a.dir && !*a.dir) {
        rc = usage_error(cmd->name, "%s: --dir needs a directory", cmd->name);
        goto out;
    }
    int err = shmseg_ns_open(a.dir, &ns);
    if (err < 0) {
        const char *d = a.dir ? a.dir : SHMSEG_DEFAULT_DIR;
        char *e = escape_human(d, strlen(d), true);
        msg("cannot open directory %s: %s", e ? e : "", reason(err));
        free(e);
        rc = EXIT_FAIL;
        goto out;
    }
    rc = cmd->run(ns, &a);
    shmseg_ns_close(ns);
out:
    free(a.pos);
    return rc;
}

/* --- entry point ---------------------------------------------------------------- */

static const struct subcmd *const TOP[] = {
    &cmd_ls, &cmd_who, &cmd_orphans, &cmd_gc, &cmd_metrics,
};

static const struct {
    const char *name;
    const struct subcmd *cmd;
} LIST[] = {
    {"show", &cmd_list_show}, {"get", &cmd_list_get},
    {"set", &cmd_list_set},   {"new", &cmd_list_new},
    {"format", &cmd_list_format},
};

/* If argv[*k] is --dir DIR or --dir=DIR, take DIR into *@dir (moving *@k
 * past it) and return 1; 0 if it is not --dir; -1 when DIR is missing. */
static int dir_option(int argc, char **argv, int *k, const char **dir)
{
    if (strncmp(argv[*k], "--dir=", 6) == 0) {
        *dir = argv[*k] + 6;
        return 1;
    }
    if (strcmp(argv[*k], "--dir") != 0)
        return 0;
    if (*k + 1 >= argc)
        return -1;
    *dir = argv[++*k];
    return 1;
}

/* "list [--dir DIR] SUB ...": argv[0] is "list". */
static int run_list(const char *dir, int argc, char **argv)
{
    int k = 1;
    for (; k < argc && argv[k][0] == '-'; k++) {
        if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
            fputs(LIST_USAGE, stdout);
            return EXIT_OK;
        }
        int r = dir_option(argc, argv, &k, &dir);
        if (r < 0)
            return usage_error("list", "list: option '--dir' needs an "
                                       "argument");
        if (r == 0) {
            char *e = escape_human(argv[k], strlen(argv[k]), false);
            int rc = usage_error("list", "list: unknown option '%s'",
                                 e ? e : "");
            free(e);
            return rc;
        }
    }
    if (k >= argc)
        return usage_error("list", "list: missing subcommand "
                                    "(show, get, set, new, format)");
    argc -= k - 1;
    argv += k - 1;
    for (size_t i = 0; i < sizeof(LIST) / sizeof(LIST[0]); i++)
        if (strcmp(argv[1], LIST[i].name) == 0)
            return run_subcmd(LIST[i].cmd, dir, argc - 1, argv + 1);
    char *e = escape_human(argv[1], strlen(argv[1]), true);
    int rc = usage_error("list", "list: unknown subcommand %s", e ? e : "");
    free(e);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int k = 1;

    /* Global options come before the command. */
    for (; k < argc && argv[k][0] == '-'; k++) {
        if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
            fputs(MAIN_USAGE, stdout);
            return EXIT_OK;
        }
        if (strcmp(argv[k], "--version") == 0) {
            printf("shmfsctl %s\n", SHMFS_VERSION);
            return EXIT_OK;
        }
        int r = dir_option(argc, argv, &k, &dir);
        if (r < 0)
            return usage_error(NULL, "option '--dir' needs an argument");
        if (r == 0) {
            char *e = escape_human(argv[k], strlen(argv[k]), false);
            int rc = usage_error(NULL, "unknown option '%s'", e ? e : "");
            free(e);
            return rc;
        }
    }
    if (k == argc) {
        fputs(MAIN_USAGE, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[k], "list") == 0)
        return run_list(dir, argc - k, argv + k);
    for (size_t i = 0; i < sizeof(TOP) / sizeof(TOP[0]); i++)
        if (strcmp(argv[k], TOP[i]->name) == 0)
            return run_subcmd(TOP[i], dir, argc - k, argv + k);
    char *e = escape_human(argv[k], strlen(argv[k]), true);
    int rc = usage_error(NULL, "unknown command %s", e ? e : "");
    free(e);
    return rc;
}
