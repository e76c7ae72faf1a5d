/*
 * shmfsctl.h - what the files of the shmfsctl admin command share: argument
 * parsing, messages, escaping of names for people, JSON and Prometheus, and
 * aligned tables.  shmfsctl is a front end over libshmseg: it never parses
 * the ShareableList layout and never links FUSE.
 */
#ifndef SHMFSCTL_H
#define SHMFSCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shmseg.h"

/* Exit statuses. */
#define EXIT_OK 0
#define EXIT_FAIL 1  /* not found, refused, operation failed */
#define EXIT_USAGE 2 /* bad command line */

/* --- command line ---------------------------------------------------------- */

/* One option of a subcommand; --dir and --help (-h) are always accepted. */
struct optspec {
    const char *name; /* long name, without "--" */
    char short_name;  /* 0: none */
    bool has_arg;
};

#define MAX_OPTS 8

struct args {
    const char *dir;           /* --dir, or the global one, or NULL */
    bool help;                 /* --help / -h */
    const char *val[MAX_OPTS]; /* the argument of option i, or "" if set */
    char **pos;                /* positional arguments */
    int npos;
};

/* A subcommand: @argv[0] is its name (e.g. "ls" or "list show"). */
struct subcmd {
    const char *name;
    const char *usage; /* synopsis lines, then a blank line, then details */
    const struct optspec *opts; /* terminated by a zero entry, may be NULL */
    int min_pos, max_pos;       /* positional argument counts (-1: any) */
    bool dash_values;           /* "-5" is a value, not an option */
    int value_pos;              /* > 0: positional argument number value_pos
                                   is taken as it is, even "-h" or "--x" */
    int (*run)(shmseg_ns *ns, const struct args *a);
};

/* Parse and run @cmd on @argc/@argv (argv[0] is the subcommand's name);
 * @dir is the global --dir.  Returns the exit status. */
int run_subcmd(const struct subcmd *cmd, const char *dir, int argc,
               char **argv);

/* True if option @i (index into the subcommand's optspec) was given. */
static inline bool opt_set(const struct args *a, int i)
{
    return a->val[i] != NULL;
}

extern const struct subcmd cmd_ls, cmd_who, cmd_orphans, cmd_gc, cmd_metrics;
extern const struct subcmd cmd_list_show, cmd_list_get, cmd_list_set,
    cmd_list_new, cmd_list_format;

/* --- messages ---------------------------------------------------------------- */

/* "shmfsctl: " + the message + "\n" on stderr. */
void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage error: the message, a hint to --help; returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* shmseg_strerror(@err) as it reads inside a sentence ("permission
 * denied").  Returns a static buffer: one per message. */
const char *reason(int err);

/* The segment name @name quoted and escaped for a message or a table:
 * "a\nb", whole however long.  Returns a buffer rotated among 4 (enough
 * for one message), valid until the 4th next call. */
const char *qname(const char *name);

/* @len bytes at @s escaped for people: printable ASCII and valid UTF-8 as
 * they are; backslash, '"' (if @quote), \n, \t, and other bytes as C
 * escapes (\xHH).  Returns a malloc'd string or NULL. */
char *escape_human(const char *s, size_t len, bool quote);

/* Write @len bytes at @s as a JSON string (with its quotes). */
void json_str(FILE *f, const char *s, size_t len);

/* Write @s as a Prometheus label value (with its quotes). */
void prom_label(FILE *f, const char *s);

/* --- parsing values ---------------------------------------------------------- */

/* Parse DURATION ("30s", "5m", "2h", "1d", "1h30m", "90": seconds) into
 * seconds.  Returns 0 or -EINVAL / -ERANGE. */
int parse_duration(const char *text, int64_t *out);

/* Format @secs as "2d3h", "5m", "12s". */
void format_duration(int64_t secs, char *buf, size_t cap);

/* Parse a non-negative decimal (no sign, no spaces).  0 or -EINVAL/-ERANGE. */
int parse_index(const char *text, size_t *out);

/* --- output ------------------------------------------------------------------ */

/* A table printed with aligned columns.  Cells are copied. */
struct table {
    size_t ncols, nrows, cap;
    const bool *right; /* right-align column i */
    char **cells;
};

void table_init(struct table *t, size_t ncols, const bool *right);
/* Add a row of ncols cells (printf-free strings).  Returns 0 or -ENOMEM. */
int table_row(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *f);
void table_free(struct table *t);

/* "2024-05-01 12:34" (local time; @utc: "2024-05-01T12:34:56Z"). */
void format_time(const struct timespec *ts, bool utc, char *buf, size_t cap);

/* The user or group name of @id, or the number. */
void user_name(uid_t uid, char *buf, size_t cap);
void group_name(gid_t gid, char *buf, size_t cap);

#endif /* SHMFSCTL_H */
