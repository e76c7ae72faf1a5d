/*
 * bench_inspect.c - how long one inspection scan takes over many processes
 * and many segments.
 *
 *   bench_inspect [--quick]
 *
 * Creates 10,000 segments (--quick: 1,000) of 4 KiB, never touched, in a
 * private directory /dev/shm/shmfs_bench_<pid>_XXXXXX, and forks 1,000
 * children (--quick: 100) that sleep: each maps one segment, and every
 * tenth also maps 20 more and keeps their descriptors open.  Then it times
 * shmseg_inspect() over all segments (descriptors and mappings; with and
 * without judging kinds; mappings only) and shmseg_mappers() on one
 * segment, best and median of several runs, and checks that every child
 * was seen.  Target: a full scan well under a second.  Missing it is
 * reported, not an error (exit 0); a library failure or a child not seen
 * exits 1; a bad argument exits 2.  Children die with the parent
 * (PR_SET_PDEATHSIG) and the directory is removed on every path, SIGINT
 * and SIGTERM included.
 */
#include "shmseg.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXTRA_EVERY 10 /* every tenth child maps EXTRA more segments */
#define EXTRA 20
#define SEG_SIZE 4096
#define TARGET_MS 1000.0

struct cfg {
    unsigned procs, segs, reps;
};

static const struct cfg CFG_FULL = {1000, 10000, 7};
static const struct cfg CFG_QUICK = {100, 1000, 3};

/* --- cleanup, also from a signal handler ------------------------------------ */

static char g_dir[64];
static int g_dirfd = -1;
static volatile unsigned g_nsegs; /* segments created so far */

/* "s" + 5 digits, without snprintf: usable in a signal handler. */
static void seg_name(unsigned i, char name[8])
{
    name[0] = 's';
    for (int k = 5; k >= 1; k--) {
        name[k] = (char)('0' + i % 10);
        i /= 10;
    }
    name[6] = '\0';
}

static void cleanup(void)
{
    char name[8];
    if (g_dirfd < 0)
        return;
    for (unsigned i = 0; i < g_nsegs; i++) {
        seg_name(i, name);
        unlinkat(g_dirfd, name, 0);
    }
    close(g_dirfd);
    g_dirfd = -1;
    rmdir(g_dir);
}

static void on_signal(int sig)
{
    cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* --- children ----------------------------------------------------------------- */

static void child(const shmseg_ns *ns, unsigned id, const struct cfg *c,
                  int ready)
{
    char name[8];
    shmseg *seg;
    char b = 1;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(1);
    seg_name(id % c->segs, name);
    if (shmseg_attach(ns, name, SHMSEG_RDONLY, &seg) < 0)
        _exit(1);
    if (id % EXTRA_EVERY == 0)
        for (unsigned k = 1; k <= EXTRA; k++) {
            seg_name((id + k * 97) % c->segs, name);
            if (shmseg_attach(ns, name, SHMSEG_RDONLY, &seg) < 0)
                _exit(1);
        }
    if (write(ready, &b, 1) != 1)
        _exit(1);
    for (;;)
        pause();
}

/* --- timing -------------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct timing {
    double best, median;
};

static struct timing summarize(double *t, unsigned n)
{
    qsort(t, n, sizeof(*t), cmp_double);
    return (struct timing){t[0], t[n / 2]};
}

/* Time @reps full scans with @flags; the last scan is kept in *@keep. */
static int time_scan(const shmseg_ns *ns, unsigned flags, unsigned reps,
                     struct timing *out, shmseg_scan **keep)
{
    double t[16];
    struct shmseg_scan_opts o = {.flags = flags};
    for (unsigned r = 0; r < reps; r++) {
        shmseg_scan *s;
        double t0 = now_ms();
        int err = shmseg_inspect(ns, NULL, &o, &s);
        t[r] = now_ms() - t0;
        if (err < 0) {
            fprintf(stderr, "bench_inspect: scan failed: %s\n",
                    shmseg_strerror(err));
            return -1;
        }
        if (keep && r + 1 == reps)
            *keep = s;
        else
            shmseg_scan_free(s);
    }
    *out = summarize(t, reps);
    return 0;
}

/* Every child must show on its segments.  Returns how many are missing. */
static unsigned check_seen(const shmseg_scan *s, const pid_t *pids,
                           const struct cfg *c)
{
    unsigned missing = 0;
    char name[8];
    for (unsigned id = 0; id < c->procs; id++) {
        seg_name(id % c->segs, name);
        const struct shmseg_usage *u = shmseg_scan_find(s, name);
        bool seen = false;
        for (size_t k = 0; u && k < u->nusers && !seen; k++)
            seen = u->users[k].pid == pids[id];
        missing += !seen;
    }
    return missing;
}

int main(int argc, char **argv)
{
    const struct cfg *c = &CFG_FULL;
    shmseg_ns *ns = NULL;
    pid_t *pids = NULL;
    unsigned started = 0;
    int rc = 1, ready[2] = {-1, -1};

    if (argc == 2 && strcmp(argv[1], "--quick") == 0) {
        c = &CFG_QUICK;
    } else if (argc != 1) {
        fprintf(stderr, "usage: bench_inspect [--quick]\n");
        return 2;
    }
    snprintf(g_dir, sizeof(g_dir), "/dev/shm/shmfs_bench_%ld_XXXXXX",
             (long)getpid());
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    if (!mkdtemp(g_dir)) {
        perror("bench_inspect: mkdtemp");
        return 1;
    }
    g_dirfd = open(g_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int err = shmseg_ns_open(g_dir, &ns);
    if (g_dirfd < 0 || err < 0) {
        fprintf(stderr, "bench_inspect: cannot open %s\n", g_dir);
        goto out;
    }

    double t0 = now_ms();
    for (unsigned i = 0; i < c->segs; i++) {
        char name[8];
        shmseg *seg;
        seg_name(i, name);
        err = shmseg_create(ns, name, SEG_SIZE, 0600, &seg);
        if (err < 0) {
            fprintf(stderr, "bench_inspect: cannot create segment \"%s\": %s\n",
                    name, shmseg_strerror(err));
            goto out;
        }
        g_nsegs = i + 1;
        shmseg_close(seg);
    }
    double t_create = now_ms() - t0;

    pids = calloc(c->procs, sizeof(*pids));
    if (!pids || pipe2(ready, O_CLOEXEC) < 0) {
        perror("bench_inspect");
        goto out;
    }
    t0 = now_ms();
    for (; started < c->procs; started++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("bench_inspect: fork");
            goto out;
        }
        if (pid == 0) {
            close(ready[0]);
            child(ns, started, c, ready[1]);
        }
        pids[started] = pid;
    }
    close(ready[1]);
    ready[1] = -1;
    for (unsigned n = 0; n < c->procs; n++) {
        char b;
        if (read(ready[0], &b, 1) != 1) {
            fprintf(stderr, "bench_inspect: a child failed to start\n");
            goto out;
        }
    }
    double t_fork = now_ms() - t0;
    printf("bench_inspect: %u segments (created in %.0f ms), %u sleeping "
           "children (started in %.0f ms), %u runs each\n",
           c->segs, t_create, c->procs, t_fork, c->reps);

    struct timing full, kinds, maps_only;
    shmseg_scan *s = NULL;
    if (time_scan(ns, 0, c->reps, &full, &s) < 0 ||
        time_scan(ns, SHMSEG_SCAN_KINDS, c->reps, &kinds, NULL) < 0 ||
        time_scan(ns, SHMSEG_SCAN_NO_FDS, c->reps, &maps_only, NULL) < 0)
        goto out;
    const struct shmseg_scan_stats *st = shmseg_scan_stats(s);
    unsigned missing = check_seen(s, pids, c);
    printf("  processes in /proc: %u (vanished %u, unreadable %u)\n",
           st->procs, st->vanished, st->unreadable);
    shmseg_scan_free(s);

    double tm[16];
    for (unsigned r = 0; r < c->reps; r++) {
        t0 = now_ms();
        err = shmseg_mappers(ns, "s00000", 0, NULL, 0);
        tm[r] = now_ms() - t0;
        if (err < 1) {
            fprintf(stderr, "bench_inspect: shmseg_mappers: %s\n",
                    err < 0 ? shmseg_strerror(err) : "no mapper seen");
            goto out;
        }
    }
    struct timing one = summarize(tm, c->reps);

    printf("  full scan (fds + maps):     best %8.1f ms  median %8.1f ms\n",
           full.best, full.median);
    printf("  full scan + kinds:          best %8.1f ms  median %8.1f ms\n",
           kinds.best, kinds.median);
    printf("  maps only (no fds):         best %8.1f ms  median %8.1f ms\n",
           maps_only.best, maps_only.median);
    printf("  shmseg_mappers(1 segment):  best %8.1f ms  median %8.1f ms\n",
           one.best, one.median);
    if (missing) {
        fprintf(stderr, "bench_inspect: %u children not seen by the scan\n",
                missing);
        goto out;
    }
    printf("  every child seen on its segment\n");
    printf("  target (full scan under %.0f ms): %s\n", TARGET_MS,
           full.median < TARGET_MS ? "met" : "MISSED");
    rc = 0;

out:
    for (unsigned i = 0; i < started; i++)
        kill(pids[i], SIGKILL);
    for (unsigned i = 0; i < started; i++)
        waitpid(pids[i], NULL, 0);
    if (ready[0] >= 0)
        close(ready[0]);
    if (ready[1] >= 0)
        close(ready[1]);
    free(pids);
    shmseg_ns_close(ns);
    cleanup();
    return rc;
}
