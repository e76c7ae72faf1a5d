/*
 * shmfsctl_seg.c - the shmfsctl subcommands about segments and their
 * users: ls, who, orphans, gc, metrics.  Each is one shmseg_inspect() scan
 * (one pass over /proc) and a way of printing it.
 */
#include "shmfsctl.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Scan @name (NULL: all), saying why not.  Returns 0 or EXIT_FAIL. */
static int scan(shmseg_ns *ns, const char *name, unsigned flags,
                shmseg_scan **out)
{
    struct shmseg_scan_opts o = {.flags = flags};
    int err = shmseg_inspect(ns, name, &o, out);
    if (err == 0)
        return 0;
    if (name)
        msg("cannot inspect segment %s: %s", qname(name), reason(err));
    else
        msg("cannot scan %s: %s", qname(shmseg_ns_path(ns)), reason(err));
    return EXIT_FAIL;
}

/* Processes the scan could not read make its answer incomplete: say so. */
static void warn_incomplete(const shmseg_scan *s)
{
    const struct shmseg_scan_stats *st = shmseg_scan_stats(s);
    if (st->unreadable)
        msg("note: %u process%s could not be inspected; %s use of segments "
            "is unknown", st->unreadable, st->unreadable == 1 ? "" : "es",
            st->unreadable == 1 ? "its" : "their");
}

static void json_stats(FILE *f, const shmseg_scan *s)
{
    const struct shmseg_scan_stats *st = shmseg_scan_stats(s);
    fprintf(f, "\"processes\": {\"scanned\": %u, \"vanished\": %u, "
               "\"unreadable\": %u}",
            st->procs, st->vanished, st->unreadable);
}

static void json_dir(FILE *f, shmseg_ns *ns)
{
    fputs("\"dir\": ", f);
    json_str(f, shmseg_ns_path(ns), strlen(shmseg_ns_path(ns)));
}

/* --- ls -------------------------------------------------------------------- */

enum { LS_LONG, LS_JSON };

static const struct optspec LS_OPTS[] = {
    [LS_LONG] = {"long", 'l', false},
    [LS_JSON] = {"json", 0, false},
    {0},
};

static void json_usage(FILE *f, const struct shmseg_usage *u, time_t now)
{
    char user[64], group[64], when[32];
    user_name(u->info.uid, user, sizeof(user));
    group_name(u->info.gid, group, sizeof(group));
    format_time(&u->info.mtime, true, when, sizeof(when));
    fputs("{\"name\": ", f);
    json_str(f, u->name, strlen(u->name));
    fprintf(f, ", \"kind\": \"%s\"", shmseg_kind_name(u->kind));
    if (u->kind == SHMSEG_KIND_LIST)
        fprintf(f, ", \"elements\": %zu", u->list_len);
    fprintf(f, ", \"size\": %" PRIu64 ", \"uid\": %u, \"user\": ",
            u->info.size, (unsigned)u->info.uid);
    json_str(f, user, strlen(user));
    fprintf(f, ", \"gid\": %u, \"group\": ", (unsigned)u->info.gid);
    json_str(f, group, strlen(group));
    fprintf(f, ", \"mode\": \"%04o\", \"modified\": \"%s\", "
               "\"age_seconds\": %" PRId64 ", \"processes\": %zu, "
               "\"uninspected\": %zu}",
            (unsigned)u->info.mode, when, shmseg_info_age(&u->info, now),
            u->nusers, u->unknown);
}

static int run_ls(shmseg_ns *ns, const struct args *a)
{
    shmseg_scan *s;
    time_t now = time(NULL);
    bool lng = opt_set(a, LS_LONG);

    if (scan(ns, NULL, SHMSEG_SCAN_KINDS, &s))
        return EXIT_FAIL;
    size_t n = shmseg_scan_count(s);
    if (opt_set(a, LS_JSON)) {
        fputs("{", stdout);
        json_dir(stdout, ns);
        fputs(", \"segments\": [", stdout);
        for (size_t i = 0; i < n; i++) {
            fputs(i ? ",\n  " : "\n  ", stdout);
            json_usage(stdout, shmseg_scan_at(s, i), now);
        }
        fputs(n ? "\n], " : "], ", stdout);
        json_stats(stdout, s);
        fputs("}\n", stdout);
        shmseg_scan_free(s);
        return EXIT_OK;
    }

    static const bool right_short[] = {false, false, true, true};
    static const bool right_long[] = {false, false, true, false,
                                      false, false, true};
    struct table t;
    table_init(&t, lng ? 7 : 4, lng ? right_long : right_short);
    if (lng) {
        static const char *const head[] = {"NAME",  "KIND",     "SIZE",
                                           "OWNER", "MODE",     "MODIFIED",
                                           "PROCS"};
        table_row(&t, head);
    } else {
        static const char *const head[] = {"NAME", "KIND", "SIZE", "PROCS"};
        table_row(&t, head);
    }
    int rc = EXIT_OK;
    for (size_t i = 0; i < n && rc == EXIT_OK; i++) {
        const struct shmseg_usage *u = shmseg_scan_at(s, i);
        char size[32], procs[32], owner[64], mode[8], when[32], kind[40];
        char *name = escape_human(u->name, strlen(u->name), false);
        if (!name) {
            rc = EXIT_FAIL;
            break;
        }
        if (u->kind == SHMSEG_KIND_LIST)
            snprintf(kind, sizeof(kind), "list[%zu]", u->list_len);
        else
            snprintf(kind, sizeof(kind), "%s", shmseg_kind_name(u->kind));
        snprintf(size, sizeof(size), "%" PRIu64, u->info.size);
        snprintf(procs, sizeof(procs), "%zu", u->nusers);
        user_name(u->info.uid, owner, sizeof(owner));
        snprintf(mode, sizeof(mode), "%04o", (unsigned)u->info.mode);
        format_time(&u->info.mtime, false, when, sizeof(when));
        const char *longrow[] = {name, kind, size, owner, mode, when, procs};
        const char *shortrow[] = {name, kind, size, procs};
        if (table_row(&t, lng ? longrow : shortrow) < 0)
            rc = EXIT_FAIL;
        free(name);
    }
    if (rc == EXIT_OK)
        table_print(&t, stdout);
    else
        msg("out of memory");
    table_free(&t);
    shmseg_scan_free(s);
    return rc;
}

const struct subcmd cmd_ls = {
    .name = "ls",
    .usage = "usage: shmfsctl ls [-l|--long] [--json] [--dir DIR]\n"
             "\n"
             "List the segments of DIR (default " SHMSEG_DEFAULT_DIR "): name, kind\n"
             "(segment, list[N] for a ShareableList of N elements, or unknown when\n"
             "unreadable), size in bytes and the number of processes that map it or\n"
             "hold it open.  -l adds owner, mode and modification time; --json prints\n"
             "every field as one JSON object.\n",
    .opts = LS_OPTS,
    .max_pos = 0,
    .run = run_ls,
};

/* --- who --------------------------------------------------------------------- */

enum { WHO_JSON };

static const struct optspec WHO_OPTS[] = {
    [WHO_JSON] = {"json", 0, false},
    {0},
};

static int run_who(shmseg_ns *ns, const struct args *a)
{
    shmseg_scan *s;

    if (scan(ns, a->pos[0], 0, &s))
        return EXIT_FAIL;
    const struct shmseg_usage *u = shmseg_scan_at(s, 0);
    if (opt_set(a, WHO_JSON)) {
        fputs("{\"name\": ", stdout);
        json_str(stdout, u->name, strlen(u->name));
        fputs(", ", stdout);
        json_dir(stdout, ns);
        fputs(", \"users\": [", stdout);
        for (size_t i = 0; i < u->nusers; i++) {
            const struct shmseg_user *p = &u->users[i];
            fprintf(stdout, "%s{\"pid\": %d, \"comm\": ", i ? ", " : "",
                    (int)p->pid);
            json_str(stdout, p->comm, strlen(p->comm));
            fprintf(stdout, ", \"mapped\": %" PRIu64 ", \"maps\": %u, "
                            "\"fds\": %u}", p->mapped, p->maps, p->fds);
        }
        fputs("], ", stdout);
        json_stats(stdout, s);
        fputs("}\n", stdout);
    } else {
        static const bool right[] = {true, false, true, true, true};
        static const char *const head[] = {"PID", "COMMAND", "MAPPED",
                                           "MAPS", "FDS"};
        struct table t;
        table_init(&t, 5, right);
        table_row(&t, head);
        for (size_t i = 0; i < u->nusers; i++) {
            const struct shmseg_user *p = &u->users[i];
            char pid[16], mapped[32], maps[16], fds[16];
            char *comm = escape_human(p->comm, strlen(p->comm), false);
            snprintf(pid, sizeof(pid), "%d", (int)p->pid);
            snprintf(mapped, sizeof(mapped), "%" PRIu64, p->mapped);
            snprintf(maps, sizeof(maps), "%u", p->maps);
            snprintf(fds, sizeof(fds), "%u", p->fds);
            const char *row[] = {pid, comm ? comm : "?", mapped, maps, fds};
            table_row(&t, row);
            free(comm);
        }
        table_print(&t, stdout);
        table_free(&t);
        warn_incomplete(s);
    }
    shmseg_scan_free(s);
    return EXIT_OK;
}

const struct subcmd cmd_who = {
    .name = "who",
    .usage = "usage: shmfsctl who NAME [--json] [--dir DIR]\n"
             "\n"
             "Show the processes that map the segment NAME or hold it open: pid,\n"
             "command name, bytes of address space mapped, number of mappings and\n"
             "of open descriptors.  Mappings and opens through a shmfs mount of DIR\n"
             "count too.  Exit status 1 if NAME is not a segment.\n",
    .opts = WHO_OPTS,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_who,
};

/* --- orphans and gc ---------------------------------------------------------- */

/* Parse --older-than (option @i) into @secs; 0 when absent. */
static int older_than(const struct args *a, int i, const char *cmd,
                      int64_t *secs)
{
    *secs = 0;
    if (!opt_set(a, i))
        return EXIT_OK;
    if (parse_duration(a->val[i], secs) < 0) {
        char *e = escape_human(a->val[i], strlen(a->val[i]), true);
        int rc = usage_error(cmd,
                             "%s: invalid duration %s (use e.g. 30s, 5m, 2h, "
                             "1d, 1h30m)", cmd, e ? e : "");
        free(e);
        return rc;
    }
    return EXIT_OK;
}

static bool is_orphan(const struct shmseg_usage *u, int64_t min_age,
                      time_t now)
{
    return u->nusers == 0 && shmseg_info_age(&u->info, now) >= min_age;
}

enum { ORPH_OLDER, ORPH_JSON };

static const struct optspec ORPH_OPTS[] = {
    [ORPH_OLDER] = {"older-than", 0, true},
    [ORPH_JSON] = {"json", 0, false},
    {0},
};

static int run_orphans(shmseg_ns *ns, const struct args *a)
{
    shmseg_scan *s;
    int64_t min_age;
    time_t now = time(NULL);
    int rc = older_than(a, ORPH_OLDER, "orphans", &min_age);

    if (rc != EXIT_OK)
        return rc;
    if (scan(ns, NULL, SHMSEG_SCAN_KINDS, &s))
        return EXIT_FAIL;
    size_t n = shmseg_scan_count(s);
    if (opt_set(a, ORPH_JSON)) {
        bool first = true;
        fputs("{", stdout);
        json_dir(stdout, ns);
        fputs(", \"orphans\": [", stdout);
        for (size_t i = 0; i < n; i++) {
            const struct shmseg_usage *u = shmseg_scan_at(s, i);
            if (!is_orphan(u, min_age, now))
                continue;
            fputs(first ? "\n  " : ",\n  ", stdout);
            first = false;
            json_usage(stdout, u, now);
        }
        fputs(first ? "], " : "\n], ", stdout);
        json_stats(stdout, s);
        fputs("}\n", stdout);
    } else {
        static const bool right[] = {false, false, true, true};
        static const char *const head[] = {"NAME", "KIND", "SIZE", "AGE"};
        struct table t;
        table_init(&t, 4, right);
        table_row(&t, head);
        for (size_t i = 0; i < n; i++) {
            const struct shmseg_usage *u = shmseg_scan_at(s, i);
            char size[32], age[32];
            if (!is_orphan(u, min_age, now))
                continue;
            char *name = escape_human(u->name, strlen(u->name), false);
            snprintf(size, sizeof(size), "%" PRIu64, u->info.size);
            format_duration(shmseg_info_age(&u->info, now), age, sizeof(age));
            const char *row[] = {name ? name : "?", shmseg_kind_name(u->kind),
                                 size, age};
            table_row(&t, row);
            free(name);
        }
        table_print(&t, stdout);
        table_free(&t);
        warn_incomplete(s);
    }
    shmseg_scan_free(s);
    return EXIT_OK;
}

const struct subcmd cmd_orphans = {
    .name = "orphans",
    .usage = "usage: shmfsctl orphans [--older-than DURATION] [--json] [--dir DIR]\n"
             "\n"
             "List the segments that no process maps or holds open.  Their age is the\n"
             "time since the later of their mtime and ctime (creation, resize, chmod;\n"
             "writes through a mapping do not count).  --older-than keeps those at\n"
             "least DURATION old: a number with s, m, h or d (30s, 5m, 2h, 1d, 1h30m;\n"
             "a bare number is seconds).\n",
    .opts = ORPH_OPTS,
    .max_pos = 0,
    .run = run_orphans,
};

enum { GC_OLDER, GC_DRY, GC_FORCE };

static const struct optspec GC_OPTS[] = {
    [GC_OLDER] = {"older-than", 0, true},
    [GC_DRY] = {"dry-run", 'n', false},
    [GC_FORCE] = {"force", 0, false},
    {0},
};

/* True if @name is the quarantine name of a gc that is still running (its
 * pid is alive): that gc decides about it. */
static bool quarantined_by_live_gc(const char *name)
{
    size_t k = strlen(SHMSEG_GC_PREFIX);
    char *end;
    if (strncmp(name, SHMSEG_GC_PREFIX, k) != 0)
        return false;
    long pid = strtol(name + k, &end, 10);
    if (end == name + k || *end != '-' || pid <= 0 || pid > INT32_MAX)
        return false;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static void say_uninspected(const char *verb, const char *name, size_t n)
{
    printf("%s %s: %zu process%s that could not be inspected could use it\n",
           verb, qname(name), n, n == 1 ? "" : "es");
}

/* Print what shmseg_gc() did with @it (@u: the segment as first judged).
 * Returns EXIT_OK or EXIT_FAIL; counts removals and refusals. */
static int gc_report(const struct shmseg_gc_item *it,
                     const struct shmseg_usage *u, time_t now,
                     size_t *removed, uint64_t *bytes, size_t *refused)
{
    char age[32];
    int rc = EXIT_OK;

    switch (it->result) {
    case 0:
        format_duration(shmseg_info_age(&u->info, now), age, sizeof(age));
        printf("removed %s (%" PRIu64 " bytes, unused for %s)\n",
               qname(u->name), u->info.size, age);
        (*removed)++;
        *bytes += u->info.size;
        break;
    case -EBUSY:
        if (it->users > 0) {
            printf("kept %s: in use again\n", qname(u->name));
        } else {
            say_uninspected("kept", u->name, it->unknown);
            (*refused)++;
            rc = EXIT_FAIL;
        }
        break;
    case -ESTALE:
        printf("kept %s: replaced by another segment since the scan\n",
               qname(u->name));
        break;
    case -ENOENT:
        printf("skipped %s: already gone\n", qname(u->name));
        break;
    default:
        msg("cannot remove segment %s: %s", qname(u->name),
            reason(it->result));
        rc = EXIT_FAIL;
    }
    if (it->stranded) {
        msg("segment %s was kept under the name %s: its name was taken by "
            "another segment meanwhile", qname(u->name), qname(it->stranded));
        rc = EXIT_FAIL;
    }
    return rc;
}

static int run_gc(shmseg_ns *ns, const struct args *a)
{
    shmseg_scan *s;
    int64_t min_age;
    time_t now = time(NULL);
    bool dry = opt_set(a, GC_DRY), force = opt_set(a, GC_FORCE);
    size_t removed = 0, refused = 0, n = 0;
    uint64_t bytes = 0;
    int rc = older_than(a, GC_OLDER, "gc", &min_age);

    if (rc != EXIT_OK)
        return rc;
    if (scan(ns, NULL, 0, &s))
        return EXIT_FAIL;
    const struct shmseg_scan_stats *st = shmseg_scan_stats(s);
    if (st->proc_restricted && !force) {
        msg("gc refused: /proc is mounted with hidepid= or subset=pid, so "
            "processes using segments may be hidden from it (--force to "
            "collect anyway)");
        shmseg_scan_free(s);
        return EXIT_FAIL;
    }
    warn_incomplete(s);
    size_t count = shmseg_scan_count(s);
    struct shmseg_gc_item *items = calloc(count ? count : 1, sizeof(*items));
    const struct shmseg_usage **us = calloc(count ? count : 1, sizeof(*us));
    if (!items || !us) {
        msg("out of memory");
        rc = EXIT_FAIL;
        goto out;
    }
    /* Candidates from the first scan; shmseg_gc() decides on all of them
     * with one more scan, each under a private name meanwhile. */
    for (size_t i = 0; i < count; i++) {
        const struct shmseg_usage *u = shmseg_scan_at(s, i);
        if (!is_orphan(u, min_age, now) || quarantined_by_live_gc(u->name))
            continue;
        if (u->unknown > 0 && !force) {
            say_uninspected(dry ? "would keep" : "kept", u->name, u->unknown);
            refused++;
            continue;
        }
        us[n] = u;
        items[n].name = u->name;
        items[n].ino = u->ino;
        n++;
    }
    if (dry) {
        for (size_t i = 0; i < n; i++) {
            char age[32];
            format_duration(shmseg_info_age(&us[i]->info, now), age,
                            sizeof(age));
            printf("would remove %s (%" PRIu64 " bytes, unused for %s)\n",
                   qname(us[i]->name), us[i]->info.size, age);
            removed++;
            bytes += us[i]->info.size;
        }
    } else if (n > 0) {
        int err = shmseg_gc(ns, items, n, NULL, force ? SHMSEG_GC_FORCE : 0,
                            NULL);
        if (err < 0) {
            msg("cannot collect segments of %s: %s",
                qname(shmseg_ns_path(ns)), reason(err));
            rc = EXIT_FAIL;
        }
        for (size_t i = 0; i < n && err == 0; i++)
            if (gc_report(&items[i], us[i], now, &removed, &bytes,
                          &refused) != EXIT_OK)
                rc = EXIT_FAIL;
        for (size_t i = 0; i < n; i++)
            free(items[i].stranded);
    }
    printf("%s %zu segment%s, %" PRIu64 " bytes\n",
           dry ? "would remove" : "removed", removed, removed == 1 ? "" : "s",
           bytes);
    if (refused > 0) {
        msg("gc refused %zu segment%s: %u process%s could not be inspected "
            "(run as root to see them, or use --force)", refused,
            refused == 1 ? "" : "s", st->unreadable,
            st->unreadable == 1 ? "" : "es");
        rc = EXIT_FAIL;
    }
out:
    free(items);
    free(us);
    shmseg_scan_free(s);
    return rc;
}

const struct subcmd cmd_gc = {
    .name = "gc",
    .usage = "usage: shmfsctl gc [--older-than DURATION] [-n|--dry-run] [--force]\n"
             "                   [--dir DIR]\n"
             "\n"
             "Unlink the orphaned segments (see 'shmfsctl orphans --help'), at least\n"
             "DURATION old if --older-than is given.  Each is first renamed to a\n"
             "private name (" SHMSEG_GC_PREFIX "PID-XXXXXXXX), then one more scan decides: a\n"
             "segment that is now mapped or open is renamed back, and so is one whose\n"
             "name named another file by then.  Prints what it removed (or, with\n"
             "--dry-run, what it would remove).\n"
             "\n"
             "A segment that a process gc could not inspect could open (by its owner,\n"
             "group and mode bits) is kept, and gc exits 1; so does gc when /proc is\n"
             "mounted with hidepid= or subset=pid.  --force removes such segments\n"
             "anyway.  Exit status 1 also if a segment could not be removed.\n",
    .opts = GC_OPTS,
    .max_pos = 0,
    .run = run_gc,
};

/* --- metrics ----------------------------------------------------------------- */

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

/* Number of distinct processes using any segment of @s. */
static size_t distinct_users(const shmseg_scan *s, bool *ok)
{
    size_t total = 0, n = 0;
    for (size_t i = 0; i < shmseg_scan_count(s); i++)
        total += shmseg_scan_at(s, i)->nusers;
    pid_t *pids = malloc((total ? total : 1) * sizeof(*pids));
    *ok = pids != NULL;
    if (!pids)
        return 0;
    for (size_t i = 0; i < shmseg_scan_count(s); i++) {
        const struct shmseg_usage *u = shmseg_scan_at(s, i);
        for (size_t j = 0; j < u->nusers; j++)
            pids[n++] = u->users[j].pid;
    }
    qsort(pids, n, sizeof(*pids), cmp_pid);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || pids[i] != pids[i - 1];
    free(pids);
    return distinct;
}

static void prom_head(const char *name, const char *help)
{
    printf("# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void prom_sample(shmseg_ns *ns, const char *name, const char *lname,
                        const char *lval, double v)
{
    printf("%s{dir=", name);
    prom_label(stdout, shmseg_ns_path(ns));
    if (lname)
        printf(",%s=\"%s\"", lname, lval);
    /* Counts print as integers, durations with nanosecond digits. */
    if (v == (double)(int64_t)v)
        printf("} %" PRId64 "\n", (int64_t)v);
    else
        printf("} %.9f\n", v);
}

static int run_metrics(shmseg_ns *ns, const struct args *a)
{
    static const enum shmseg_kind kinds[] = {
        SHMSEG_KIND_SEGMENT, SHMSEG_KIND_LIST, SHMSEG_KIND_UNKNOWN};
    double count[3] = {0}, size[3] = {0}, orphans = 0, orphan_bytes = 0;
    struct timespec t0, t1;
    shmseg_scan *s;
    bool ok;
    (void)a;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (scan(ns, NULL, SHMSEG_SCAN_KINDS, &s))
        return EXIT_FAIL;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (size_t i = 0; i < shmseg_scan_count(s); i++) {
        const struct shmseg_usage *u = shmseg_scan_at(s, i);
        for (size_t k = 0; k < 3; k++)
            if (u->kind == kinds[k]) {
                count[k]++;
                size[k] += (double)u->info.size;
            }
        if (u->nusers == 0) {
            orphans++;
            orphan_bytes += (double)u->info.size;
        }
    }
    size_t users = distinct_users(s, &ok);
    if (!ok) {
        shmseg_scan_free(s);
        msg("out of memory");
        return EXIT_FAIL;
    }
    const struct shmseg_scan_stats *st = shmseg_scan_stats(s);

    prom_head("shmfs_segments", "Segments in the namespace, by kind.");
    for (size_t k = 0; k < 3; k++)
        prom_sample(ns, "shmfs_segments", "kind", shmseg_kind_name(kinds[k]),
                    count[k]);
    prom_head("shmfs_segment_bytes", "Total size of the segments in bytes, "
                                     "by kind.");
    for (size_t k = 0; k < 3; k++)
        prom_sample(ns, "shmfs_segment_bytes", "kind",
                    shmseg_kind_name(kinds[k]), size[k]);
    prom_head("shmfs_orphan_segments", "Segments that no process maps or "
                                       "holds open.");
    prom_sample(ns, "shmfs_orphan_segments", NULL, NULL, orphans);
    prom_head("shmfs_orphan_bytes", "Total size of the orphaned segments in "
                                    "bytes.");
    prom_sample(ns, "shmfs_orphan_bytes", NULL, NULL, orphan_bytes);
    prom_head("shmfs_attached_processes", "Processes that map or hold open "
                                          "at least one segment.");
    prom_sample(ns, "shmfs_attached_processes", NULL, NULL, (double)users);
    prom_head("shmfs_scan_processes", "Processes looked at by the scan, by "
                                      "outcome.");
    prom_sample(ns, "shmfs_scan_processes", "outcome", "read",
                (double)(st->procs - st->vanished - st->unreadable));
    prom_sample(ns, "shmfs_scan_processes", "outcome", "vanished",
                st->vanished);
    prom_sample(ns, "shmfs_scan_processes", "outcome", "unreadable",
                st->unreadable);
    prom_head("shmfs_scan_duration_seconds", "Time the scan took.");
    prom_sample(ns, "shmfs_scan_duration_seconds", NULL, NULL,
                (double)(t1.tv_sec - t0.tv_sec) +
                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    shmseg_scan_free(s);
    return EXIT_OK;
}

const struct subcmd cmd_metrics = {
    .name = "metrics",
    .usage = "usage: shmfsctl metrics [--dir DIR]\n"
             "\n"
             "Print gauges in the Prometheus text exposition format (0.0.4): segment\n"
             "count and bytes by kind, orphan count and bytes, processes attached to\n"
             "at least one segment, processes the scan read, lost or could not read,\n"
             "and the scan's duration.  Every sample has the label dir.  Suited to\n"
             "node_exporter's textfile collector.\n",
    .max_pos = 0,
    .run = run_metrics,
};
