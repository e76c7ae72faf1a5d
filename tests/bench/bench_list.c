/*
 * bench_list.c - element get and set through libshmseg against CPython's
 * ShareableList.__getitem__/__setitem__ on the same list, in one run.
 *
 *   bench_list [--quick]
 *
 * Creates the list shmfs_bench_<pid> in /dev/shm, times shmseg_list_get(),
 * shmseg_list_set() and shmseg_list_get_text() over it, then runs
 * /usr/bin/python3 (or $SHMFS_PYTHON) to attach ShareableList(name=...) to
 * the same list and time sl[i], sl[i] = v and str(sl[i]).  Each figure is the
 * best of several repetitions.  Prints ns/op for both sides and the ratio
 * (target: C at least 100x faster).  Missing the target is reported, not an
 * error: exit status 0.  Any failure (library error, Python failure, a value
 * that does not read back) exits 1; a bad argument exits 2.  The segment is
 * unlinked on every path, including SIGINT/SIGTERM/SIGHUP.
 *
 * Speed targets are checked only here, side by side in one run; unit tests
 * never time anything.
 */
#include "shmseg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_PYTHON "/usr/bin/python3"
#define N_ELEMS 64
#define TEXT_LEN 16 /* bytes of each str and bytes element */
#define TARGET_RATIO 100.0

/*
 * How long to time things.  Each side calibrates its loop count per
 * operation (doubling the passes until one run lasts rep_ms), then keeps the
 * best of reps runs of that many passes.  A "pass" touches every element
 * (get, get_text) or every int/float/str element (set) once.  Calibrating by
 * time bounds the whole run however fast or slow either side is.  The C
 * side is measured both before and after the Python child (c_reps runs each
 * time), so a burst of load from elsewhere during one of them counts less.
 */
struct bench_cfg {
    unsigned c_rep_ms, c_reps;
    unsigned py_rep_ms, py_reps;
};

static const struct bench_cfg CFG_FULL = {100, 4, 200, 7};
static const struct bench_cfg CFG_QUICK = {10, 2, 20, 3};

/* The list's values: A is what the list is created with, B what the set
 * benchmark alternates with (other_value(A); other_value is an involution,
 * so every set element always holds its A or B value). */
struct bench_data {
    struct shmseg_value a[N_ELEMS], b[N_ELEMS];
    char str_a[N_ELEMS][TEXT_LEN + 1], str_b[N_ELEMS][TEXT_LEN + 1];
    size_t set_idx[N_ELEMS];
    size_t n_set;
};

/* Results, ns per operation. */
struct bench_result {
    double get, set, text;
};

/* --- cleanup on signals ------------------------------------------------- */

static char g_path[sizeof(SHMSEG_DEFAULT_DIR) + 64]; /* the segment's file */
static volatile sig_atomic_t g_created;              /* g_path is ours */
static volatile pid_t g_child;                       /* the Python child */

static void on_signal(int sig)
{
    int saved = errno;
    if (g_created)
        unlink(g_path); /* async-signal-safe, unlike shm_unlink() */
    if (g_child > 0)
        kill(g_child, SIGTERM);
    signal(sig, SIG_DFL);
    raise(sig);
    errno = saved;
}

static const int CAUGHT_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP};
#define N_CAUGHT (sizeof(CAUGHT_SIGNALS) / sizeof(CAUGHT_SIGNALS[0]))

static void caught_set(sigset_t *set)
{
    sigemptyset(set);
    for (size_t k = 0; k < N_CAUGHT; k++)
        sigaddset(set, CAUGHT_SIGNALS[k]);
}

static int install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    caught_set(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t k = 0; k < N_CAUGHT; k++)
        if (sigaction(CAUGHT_SIGNALS[k], &sa, NULL) != 0)
            return -errno;
    return 0;
}

/* Block (or restore) the caught signals around creating/unlinking the
 * segment, so g_created always tells the truth when a handler runs. */
static void block_signals(sigset_t *old)
{
    sigset_t set;
    caught_set(&set);
    sigprocmask(SIG_BLOCK, &set, old);
}

static void restore_signals(const sigset_t *old)
{
    sigprocmask(SIG_SETMASK, old, NULL);
}

/* --- values --------------------------------------------------------------- */

static enum shmseg_type type_at(size_t i)
{
    static const enum shmseg_type pattern[8] = {
        SHMSEG_INT,  SHMSEG_FLOAT, SHMSEG_STR,   SHMSEG_INT,
        SHMSEG_FLOAT, SHMSEG_BOOL, SHMSEG_BYTES, SHMSEG_NONE,
    };
    return pattern[i % 8];
}

static bool settable(enum shmseg_type t)
{
    return t == SHMSEG_INT || t == SHMSEG_FLOAT || t == SHMSEG_STR;
}

/* The B value of a set element; the same rule as other() in the Python
 * script: int -v-1, float -v, str with ASCII letters' case swapped. */
static void other_value(const struct shmseg_value *a, struct shmseg_value *b,
                        char *buf)
{
    *b = *a;
    switch (a->type) {
    case SHMSEG_INT:
        b->u.i = -a->u.i - 1;
        break;
    case SHMSEG_FLOAT:
        b->u.f = -a->u.f;
        break;
    case SHMSEG_STR:
        for (size_t k = 0; k < a->u.s.len; k++) {
            unsigned char c = (unsigned char)a->u.s.ptr[k];
            buf[k] = (char)(isupper(c) ? tolower(c) : islower(c) ? toupper(c)
                                                                 : c);
        }
        buf[a->u.s.len] = '\0';
        b->u.s.ptr = buf;
        break;
    default:
        break;
    }
}

static void make_data(struct bench_data *d)
{
    memset(d, 0, sizeof(*d));
    for (size_t i = 0; i < N_ELEMS; i++) {
        struct shmseg_value *v = &d->a[i];
        v->type = type_at(i);
        switch (v->type) {
        case SHMSEG_INT:
            v->u.i = (int64_t)i * 1000003 - 20000000;
            break;
        case SHMSEG_FLOAT:
            v->u.f = (double)i * 0.125 + 1.0 / 3.0;
            break;
        case SHMSEG_BOOL:
            v->u.b = (i / 8) % 2 == 0;
            break;
        case SHMSEG_STR:
            /* 16 ASCII bytes: "s02-abcdefghijkl" */
            snprintf(d->str_a[i], sizeof(d->str_a[i]), "s%02zu-abcdefghijkl",
                     i);
            v->u.s.ptr = d->str_a[i];
            v->u.s.len = strlen(d->str_a[i]);
            break;
        case SHMSEG_BYTES:
            /* 16 bytes, some binary, no trailing NUL (it would be stripped) */
            for (size_t k = 0; k < TEXT_LEN; k++)
                d->str_a[i][k] = (char)((i * 31 + k * 7) % 256 | 1);
            v->u.s.ptr = d->str_a[i];
            v->u.s.len = TEXT_LEN;
            break;
        case SHMSEG_NONE:
            break;
        }
        if (settable(v->type)) {
            d->set_idx[d->n_set++] = i;
            other_value(v, &d->b[i], d->str_b[i]);
        } else {
            d->b[i] = *v;
        }
    }
}

static bool value_equal(const struct shmseg_value *x,
                        const struct shmseg_value *y)
{
    if (x->type != y->type)
        return false;
    switch (x->type) {
    case SHMSEG_INT:
        return x->u.i == y->u.i;
    case SHMSEG_FLOAT:
        return memcmp(&x->u.f, &y->u.f, sizeof(double)) == 0;
    case SHMSEG_BOOL:
        return x->u.b == y->u.b;
    case SHMSEG_STR:
    case SHMSEG_BYTES:
        return x->u.s.len == y->u.s.len &&
               memcmp(x->u.s.ptr, y->u.s.ptr, x->u.s.len) == 0;
    case SHMSEG_NONE:
        return true;
    }
    return false;
}

/* Every element must read back as its A value or (set elements) its B value:
 * checks both what C wrote and what CPython wrote. */
static int verify(const shmseg_list *l, const struct bench_data *d,
                  const char *when)
{
    if (shmseg_list_len(l) != N_ELEMS) {
        fprintf(stderr, "bench_list: %s: list has %zu elements, want %d\n",
                when, shmseg_list_len(l), N_ELEMS);
        return -1;
    }
    for (size_t i = 0; i < N_ELEMS; i++) {
        struct shmseg_value v;
        int err = shmseg_list_get(l, i, &v);
        if (err < 0) {
            fprintf(stderr, "bench_list: %s: get %zu: %s\n", when, i,
                    shmseg_strerror(err));
            return -1;
        }
        if (!value_equal(&v, &d->a[i]) && !value_equal(&v, &d->b[i])) {
            fprintf(stderr,
                    "bench_list: %s: element %zu (%s) holds an unexpected "
                    "value\n",
                    when, i, shmseg_type_name(d->a[i].type));
            return -1;
        }
    }
    return 0;
}

/* --- the C side ----------------------------------------------------------- */

static volatile uint64_t g_sink; /* keeps the loops' results alive */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t fold(const struct shmseg_value *v)
{
    uint64_t w = 0;
    switch (v->type) {
    case SHMSEG_INT:
        return (uint64_t)v->u.i;
    case SHMSEG_FLOAT:
        memcpy(&w, &v->u.f, sizeof(w));
        return w;
    case SHMSEG_BOOL:
        return v->u.b;
    case SHMSEG_STR:
    case SHMSEG_BYTES:
        return v->u.s.len + (unsigned char)v->u.s.ptr[0];
    case SHMSEG_NONE:
        return 1;
    }
    return 0;
}

/* One operation's loop: @passes passes; adds what it read to *acc. */
typedef int (*op_fn)(shmseg_list *l, const struct bench_data *d,
                     unsigned passes, uint64_t *acc);

static int op_get(shmseg_list *l, const struct bench_data *d, unsigned passes,
                  uint64_t *acc)
{
    for (unsigned p = 0; p < passes; p++) {
        for (size_t i = 0; i < N_ELEMS; i++) {
            struct shmseg_value v;
            int err = shmseg_list_get(l, i, &v);
            if (err < 0)
                return err;
            *acc += fold(&v);
        }
    }
    return 0;
}

/* Alternates the A and B values, so every store changes the bytes. */
static int op_set(shmseg_list *l, const struct bench_data *d, unsigned passes,
                  uint64_t *acc)
{
    for (unsigned p = 0; p < passes; p++) {
        const struct shmseg_value *vals = (p & 1) ? d->b : d->a;
        for (size_t k = 0; k < d->n_set; k++) {
            size_t i = d->set_idx[k];
            int err = shmseg_list_set(l, i, &vals[i]);
            if (err < 0)
                return err;
        }
    }
    return 0;
}

static int op_get_text(shmseg_list *l, const struct bench_data *d,
                       unsigned passes, uint64_t *acc)
{
    char text[64];
    for (unsigned p = 0; p < passes; p++) {
        for (size_t i = 0; i < N_ELEMS; i++) {
            ssize_t len = shmseg_list_get_text(l, i, text, sizeof(text));
            if (len < 0)
                return (int)len;
            *acc += (uint64_t)len + (unsigned char)text[0];
        }
    }
    return 0;
}

/* Time one run of @op; elapsed ns in *ns. */
static int time_op(op_fn op, shmseg_list *l, const struct bench_data *d,
                   unsigned passes, uint64_t *ns)
{
    uint64_t acc = 0;
    uint64_t t0 = now_ns();
    int err = op(l, d, passes, &acc);
    *ns = now_ns() - t0;
    g_sink += acc;
    return err;
}

/* ns per operation of @op (@per_pass operations a pass) in *out: calibrate,
 * then the best of cfg->c_reps runs.  Returns 0 or -1 (reported). */
static int c_measure(const char *what, op_fn op, size_t per_pass,
                     shmseg_list *l, const struct bench_data *d,
                     const struct bench_cfg *cfg, double *out)
{
    uint64_t rep_ns = (uint64_t)cfg->c_rep_ms * 1000000u, ns, best = 0;
    unsigned passes = 1;
    int err;

    /* The calibration runs double as warm-up. */
    for (;;) {
        err = time_op(op, l, d, passes, &ns);
        if (err < 0 || ns >= rep_ns || passes >= UINT32_MAX / 2)
            break;
        passes *= 2;
    }
    for (unsigned rep = 0; err == 0 && rep < cfg->c_reps; rep++) {
        err = time_op(op, l, d, passes, &ns);
        if (rep == 0 || ns < best)
            best = ns;
    }
    if (err < 0) {
        fprintf(stderr, "bench_list: %s: %s\n", what, shmseg_strerror(err));
        return -1;
    }
    *out = (double)best / ((double)passes * (double)per_pass);
    return 0;
}

/* Measure every operation; keep the better of each figure and *best's
 * (when @first is false). */
static int c_bench(shmseg_list *l, const struct bench_data *d,
                   const struct bench_cfg *cfg, struct bench_result *best,
                   bool first)
{
    struct bench_result r;
    if (c_measure("shmseg_list_get", op_get, N_ELEMS, l, d, cfg, &r.get) ||
        c_measure("shmseg_list_set", op_set, d->n_set, l, d, cfg, &r.set) ||
        c_measure("shmseg_list_get_text", op_get_text, N_ELEMS, l, d, cfg,
                  &r.text))
        return -1;
    if (first || r.get < best->get)
        best->get = r.get;
    if (first || r.set < best->set)
        best->set = r.set;
    if (first || r.text < best->text)
        best->text = r.text;
    return 0;
}

/* --- the Python side ------------------------------------------------------ */

/*
 * argv: name rep_ms reps types.  Checks that every element has the type C
 * created it with, then for each loop doubles the passes until one run lasts
 * rep_ms and keeps the best of reps runs (GC off); prints one line for
 * parse_python().  SharedMemory(name=...) registers the segment with the
 * resource tracker even when only attaching (3.8-3.12), and the tracker
 * would unlink it (with a warning) when the child exits: unregister it
 * straight away.
 */
static const char PY_SCRIPT[] =
    "import gc, sys, time\n"
    "from multiprocessing import resource_tracker\n"
    "from multiprocessing.shared_memory import ShareableList\n"
    "name, rep_ns = sys.argv[1], int(sys.argv[2]) * 1000000\n"
    "reps, want = int(sys.argv[3]), sys.argv[4].split(',')\n"
    "sl = ShareableList(name=name)\n"
    "resource_tracker.unregister(sl.shm._name, 'shared_memory')\n"
    "clock = time.perf_counter_ns\n"
    "def other(v):\n"
    "    if type(v) is int:\n"
    "        return -v - 1\n"
    "    if type(v) is float:\n"
    "        return -v\n"
    "    return v.swapcase()\n"
    "def get_loop(passes, sl, idx, pairs):\n"
    "    t0 = clock()\n"
    "    for p in range(passes):\n"
    "        for i in idx:\n"
    "            sl[i]\n"
    "    return clock() - t0\n"
    "def set_loop(passes, sl, idx, pairs):\n"
    "    t0 = clock()\n"
    "    for p in range(passes):\n"
    "        for i, v in pairs[p & 1]:\n"
    "            sl[i] = v\n"
    "    return clock() - t0\n"
    "def text_loop(passes, sl, idx, pairs):\n"
    "    t0 = clock()\n"
    "    for p in range(passes):\n"
    "        for i in idx:\n"
    "            str(sl[i])\n"
    "    return clock() - t0\n"
    "def measure(loop, per_pass, *args):\n"
    "    passes = 1\n"
    "    while loop(passes, *args) < rep_ns:\n"
    "        passes *= 2\n"
    "    best = min(loop(passes, *args) for r in range(reps))\n"
    "    return best / (passes * per_pass)\n"
    "try:\n"
    "    n = len(sl)\n"
    "    got = [type(sl[i]).__name__ for i in range(n)]\n"
    "    got = ['None' if t == 'NoneType' else t for t in got]\n"
    "    if got != want:\n"
    "        sys.exit('bench_list (python): element types %r, C wrote %r'\n"
    "                 % (got, want))\n"
    "    idx = list(range(n))\n"
    "    a = [(i, sl[i]) for i in idx if type(sl[i]) in (int, float, str)]\n"
    "    args = (sl, idx, (a, [(i, other(v)) for i, v in a]))\n"
    "    gc.disable()\n"
    "    get_ns = measure(get_loop, n, *args)\n"
    "    set_ns = measure(set_loop, len(a), *args)\n"
    "    text_ns = measure(text_loop, n, *args)\n"
    "    gc.enable()\n"
    "    print('shmfs-bench get=%.3f set=%.3f text=%.3f python=%s'\n"
    "          % (get_ns, set_ns, text_ns, sys.version.split()[0]),\n"
    "          flush=True)\n"
    "finally:\n"
    "    sl.shm.close()\n";

static int parse_python(const char *out, struct bench_result *r,
                        char *version, size_t version_cap)
{
    char ver[32] = "";
    const char *line = strstr(out, "shmfs-bench ");
    if (!line ||
        sscanf(line, "shmfs-bench get=%lf set=%lf text=%lf python=%31s",
               &r->get, &r->set, &r->text, ver) != 4 ||
        !(r->get > 0) || !(r->set > 0) || !(r->text > 0))
        return -1;
    snprintf(version, version_cap, "%s", ver);
    return 0;
}

/* Run the Python side; its results in *r.  Returns 0 or -1 (reported). */
static int py_bench(const char *python, const char *name,
                    const struct bench_data *d, const struct bench_cfg *cfg,
                    struct bench_result *r, char *version, size_t version_cap)
{
    char rep_ms[16], reps[16], types[N_ELEMS * 8];
    char out[4096];
    size_t used = 0;
    int fds[2], err, status, ret = -1;
    posix_spawn_file_actions_t fa;
    pid_t pid;

    snprintf(rep_ms, sizeof(rep_ms), "%u", cfg->py_rep_ms);
    snprintf(reps, sizeof(reps), "%u", cfg->py_reps);
    types[0] = '\0';
    for (size_t i = 0; i < N_ELEMS; i++) {
        size_t len = strlen(types);
        snprintf(types + len, sizeof(types) - len, "%s%s", i ? "," : "",
                 shmseg_type_name(d->a[i].type));
    }

    char *argv[] = {
        (char *)python, (char *)"-I", (char *)"-c", (char *)PY_SCRIPT,
        (char *)name,   rep_ms,       reps,         types,
        NULL,
    };

    if (pipe2(fds, O_CLOEXEC) != 0) {
        perror("bench_list: pipe2");
        return -1;
    }
    err = posix_spawn_file_actions_init(&fa);
    if (err == 0) {
        err = posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
        if (err == 0)
            err = posix_spawnp(&pid, python, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
    }
    close(fds[1]);
    if (err != 0) {
        fprintf(stderr, "bench_list: cannot run %s: %s\n", python,
                strerror(err));
        close(fds[0]);
        return -1;
    }
    g_child = pid;

    /* Read everything the child prints (keep the first sizeof(out) - 1). */
    for (;;) {
        char chunk[512];
        ssize_t got = read(fds[0], chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size_t keep = (size_t)got;
        if (keep > sizeof(out) - 1 - used)
            keep = sizeof(out) - 1 - used;
        memcpy(out + used, chunk, keep);
        used += keep;
    }
    out[used] = '\0';
    close(fds[0]);

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("bench_list: waitpid");
            g_child = 0;
            return -1;
        }
    }
    g_child = 0;

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFSIGNALED(status))
            fprintf(stderr, "bench_list: %s killed by signal %d\n", python,
                    WTERMSIG(status));
        else
            fprintf(stderr, "bench_list: %s exited with status %d\n", python,
                    WEXITSTATUS(status));
    } else if (parse_python(out, r, version, version_cap) != 0) {
        fprintf(stderr,
                "bench_list: cannot parse the output of %s: \"%.200s\"%s\n",
                python, out, used > 200 ? " (cut)" : "");
    } else {
        ret = 0;
    }
    return ret;
}

/* --- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_list [--quick]\n"
            "  Times ShareableList element get/set through libshmseg and\n"
            "  through CPython (" DEFAULT_PYTHON ", or $SHMFS_PYTHON) on the\n"
            "  same list and prints ns/op and the ratio (target >= %.0fx).\n"
            "  --quick  fewer iterations (smoke test, well under 3 s)\n",
            TARGET_RATIO);
}

static void print_line(const char *op, const char *py_op, double c, double py)
{
    printf("%-9s C %8.1f ns/op, Python %-14s %9.1f ns/op, ratio %6.1fx\n",
           op, c, py_op, py, py / c);
}

int main(int argc, char **argv)
{
    const struct bench_cfg *cfg = &CFG_FULL;
    struct bench_result c_res = {0, 0, 0}, py_res = {0, 0, 0};
    static struct bench_data data;
    shmseg_list *list = NULL;
    char name[64], version[32] = "?";
    sigset_t old;
    int err, status = 1;

    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--quick") == 0) {
            cfg = &CFG_QUICK;
        } else if (strcmp(argv[k], "--help") == 0 ||
                   strcmp(argv[k], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "bench_list: unknown argument '%s'\n", argv[k]);
            usage(stderr);
            return 2;
        }
    }

    const char *python = getenv("SHMFS_PYTHON");
    if (!python || !*python)
        python = DEFAULT_PYTHON;

    snprintf(name, sizeof(name), "shmfs_bench_%ld", (long)getpid());
    snprintf(g_path, sizeof(g_path), "%s/%s", SHMSEG_DEFAULT_DIR, name);
    make_data(&data);

    err = install_handlers();
    if (err < 0) {
        fprintf(stderr, "bench_list: sigaction: %s\n", strerror(-err));
        return 1;
    }

    block_signals(&old);
    err = shmseg_list_create(NULL, name, data.a, N_ELEMS, 0600, &list);
    if (err == 0)
        g_created = 1;
    restore_signals(&old);
    if (err < 0) {
        fprintf(stderr, "bench_list: shmseg_list_create %s: %s\n", name,
                shmseg_strerror(err));
        return 1;
    }

    if (verify(list, &data, "after create") != 0)
        goto out;
    if (c_bench(list, &data, cfg, &c_res, true) != 0)
        goto out;
    if (verify(list, &data, "after C set") != 0)
        goto out;
    if (py_bench(python, name, &data, cfg, &py_res, version,
                 sizeof(version)) != 0)
        goto out;
    if (verify(list, &data, "after Python set") != 0)
        goto out;
    if (c_bench(list, &data, cfg, &c_res, false) != 0)
        goto out;
    if (verify(list, &data, "after the second C run") != 0)
        goto out;

    printf("bench_list: %d elements (16 int, 16 float, 8 str, 8 bool, "
           "8 bytes, 8 None) in %s/%s\n",
           N_ELEMS, SHMSEG_DEFAULT_DIR, name);
    printf("bench_list: C: best of %u runs of >= %u ms each, before and "
           "after Python%s\n",
           2 * cfg->c_reps, cfg->c_rep_ms,
           cfg == &CFG_QUICK ? " [--quick]" : "");
    printf("bench_list: Python %s (%s): best of %u runs of >= %u ms each\n",
           version, python, cfg->py_reps, cfg->py_rep_ms);
    print_line("get:", "sl[i]", c_res.get, py_res.get);
    print_line("set:", "sl[i] = v", c_res.set, py_res.set);
    print_line("get_text:", "str(sl[i])", c_res.text, py_res.text);
    printf("bench_list: get ratio %.1fx, set ratio %.1fx (target >= %.0fx)\n",
           py_res.get / c_res.get, py_res.set / c_res.set, TARGET_RATIO);
    status = 0;

out:
    fflush(stdout);
    err = shmseg_list_close(list);
    if (err < 0) {
        fprintf(stderr, "bench_list: shmseg_list_close: %s\n",
                shmseg_strerror(err));
        status = 1;
    }
    block_signals(&old);
    err = shmseg_unlink(NULL, name);
    g_created = 0;
    restore_signals(&old);
    if (err < 0) {
        fprintf(stderr, "bench_list: shmseg_unlink %s: %s\n", name,
                shmseg_strerror(err));
        status = 1;
    }
    return status;
}
