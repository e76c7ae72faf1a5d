/*
 * bench_fs.c - the filesystem benchmark's driver: data bandwidth, metadata
 * operations and `cat` of list elements on one directory.  scripts/bench.sh
 * runs it on the shm directory itself, on an shmfs mount of it and on
 * libfuse's passthrough_ll over it, and compares the three.
 *
 *   bench_fs [--quick] [--workloads data,meta,cat] [--size MIB] [--block KIB]
 *            [--files N] [--elements N] [--reps N] [--shm-dir SHMDIR]
 *            [--data-ref REF] DIR
 *
 * data  One segment file of --size MiB in DIR (filled once, untimed, so no
 *       figure pays for tmpfs allocating its pages): mmap write (memset +
 *       msync), mmap read (a checksum of every word), write(2) and read(2)
 *       in --block KiB blocks.  Each pass opens the file, and a pass that
 *       maps it also maps and unmaps it inside the timed part (page faults
 *       are part of the cost).  MiB/s, best pass.  With --data-ref REF (the
 *       shm directory DIR is a mount of), the same segment is also timed
 *       through REF, pass by pass in turn with DIR, so the ratio of the two
 *       is measured side by side on the same pages (ref.data.*).
 * meta  --files files at DIR's top level: create+ftruncate (O_CREAT|O_EXCL,
 *       ftruncate 4096, close), readdir+stat of every entry, open+close,
 *       unlink.  us per file (per entry for readdir+stat), best repetition.
 * cat   A ShareableList of --elements mixed elements created with libshmseg
 *       in SHMDIR (default DIR): if DIR shows it as a list folder (an shmfs
 *       mount of SHMDIR), open/read to EOF/close of DIR/NAME/i per element,
 *       each read checked against shmseg_list_get_text(); always, for
 *       reference, shmseg_list_get_text() on the attached list and
 *       attach+get_text+close per element.
 *
 * Output: one line per figure, "metric<TAB>value<TAB>unit", and lines that
 * start with '#' for everything else.  Exit status 0 when every selected
 * workload ran (a plain file where a list folder was hoped for is reported
 * in a '#' line, not an error), 1 when an operation failed or the run was
 * interrupted (the message names the file and the reason), 2 for bad
 * arguments.  Every file it made is removed on every path, SIGINT/SIGTERM/
 * SIGHUP included: signals only raise a flag that every loop checks.
 */
#include "shmseg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)
#define META_FILE_SIZE 4096
#define PREFIX_CAP 40         /* "shmfs_bench_<pid>_m", "..._list" */
#define NAME_CAP 64           /* prefix + a number */
#define PATH_CAP 128          /* "<list>/<i>" */
#define LIST_TIMEOUT_MS 2000  /* how long a new list may take to show up */
#define SETTLE_US 100000      /* pause between metadata repetitions */

enum { W_DATA = 1, W_META = 2, W_CAT = 4 };

struct opts {
    const char *dir, *shm_dir, *data_ref;
    unsigned workloads;
    size_t size, block, files, elements;
    unsigned data_reps, meta_reps, cat_reps;
    unsigned cat_passes, lib_passes, attach_passes;
};

/* --- signals, errors, time ------------------------------------------------ */

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* No SA_RESTART: a signal also ends a blocking call (EINTR), so the run
 * stops at once and still removes its files. */
static int install_handlers(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
        if (sigaction(sigs[k], &sa, NULL) != 0)
            return -1;
    return 0;
}

/* Report a failed operation on @name (errno @err) and return -1. */
static int fail(const char *what, const char *name, int err)
{
    if (g_stop)
        fprintf(stderr, "bench_fs: interrupted during %s \"%s\"\n", what,
                name);
    else
        fprintf(stderr, "bench_fs: cannot %s \"%s\": %s\n", what, name,
                strerror(err));
    return -1;
}

static int stopped(void)
{
    if (!g_stop)
        return 0;
    fprintf(stderr, "bench_fs: interrupted\n");
    return -1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report(const char *metric, double value, const char *unit)
{
    printf("%s\t%.3f\t%s\n", metric, value, unit);
    fflush(stdout);
}

static double min_d(double a, double b)
{
    return a < b ? a : b;
}

/* --- data ------------------------------------------------------------------ */

struct data_ctx {
    int dfd;
    char name[NAME_CAP];
    size_t size, block;
    unsigned char *buf; /* one block */
};

static int open_data(const struct data_ctx *c, int flags)
{
    int fd = openat(c->dfd, c->name, flags | O_CLOEXEC);
    if (fd < 0)
        fail("open", c->name, errno);
    return fd;
}

/* Eight copies of @b: what every word of the file holds after a pass that
 * wrote @b. */
static uint64_t word_of(unsigned char b)
{
    return (uint64_t)b * 0x0101010101010101ULL;
}

/* Map the file, write @b over all of it, msync (data in the segment, not
 * in a cache: this is what makes a cached FUSE mapping pay its writeback),
 * unmap.  Returns seconds, or a negative value on error. */
static double mmap_write(const struct data_ctx *c, unsigned char b)
{
    int fd = open_data(c, O_RDWR);
    if (fd < 0)
        return -1;
    double t0 = now();
    void *p = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        fail("mmap (read-write)", c->name, errno);
        close(fd);
        return -1;
    }
    memset(p, b, c->size);
    int err = msync(p, c->size, MS_SYNC) != 0 ? errno : 0;
    munmap(p, c->size);
    double t = now() - t0;
    close(fd);
    if (err)
        return fail("msync", c->name, err);
    return t;
}

/* Map the file read-only and add up every word (four sums, so the loop is
 * bound by memory, not by one dependency chain); the sum must match what
 * the last pass wrote (@b). */
static double mmap_read(const struct data_ctx *c, unsigned char b)
{
    int fd = open_data(c, O_RDONLY);
    if (fd < 0)
        return -1;
    double t0 = now();
    const uint64_t *w = mmap(NULL, c->size, PROT_READ, MAP_SHARED, fd, 0);
    if (w == MAP_FAILED) {
        fail("mmap (read-only)", c->name, errno);
        close(fd);
        return -1;
    }
    size_t n = c->size / sizeof(uint64_t);
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= n; i += 4) {
        s0 += w[i];
        s1 += w[i + 1];
        s2 += w[i + 2];
        s3 += w[i + 3];
    }
    munmap((void *)w, c->size);
    double t = now() - t0;
    close(fd);
    if (s0 + s1 + s2 + s3 != word_of(b) * (uint64_t)(n / 4 * 4)) {
        fprintf(stderr, "bench_fs: \"%s\": a mapping read other bytes than "
                        "the last write left\n", c->name);
        return -1;
    }
    return t;
}

/* write(2) @b over the whole file, or read(2) all of it and check the
 * first word of every block, one block per call.  Seconds or < 0. */
static double rw_pass(const struct data_ctx *c, bool write_it, unsigned char b)
{
    int fd = open_data(c, write_it ? O_WRONLY : O_RDONLY);
    if (fd < 0)
        return -1;
    if (write_it)
        memset(c->buf, b, c->block);
    double t0 = now();
    for (size_t off = 0; off < c->size;) {
        size_t want = c->size - off < c->block ? c->size - off : c->block;
        ssize_t n = write_it ? pwrite(fd, c->buf, want, (off_t)off)
                             : pread(fd, c->buf, want, (off_t)off);
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            close(fd);
            return fail(write_it ? "write" : "read", c->name, err);
        }
        if (!write_it && c->buf[0] != b) {
            close(fd);
            fprintf(stderr, "bench_fs: \"%s\": read(2) returned other bytes "
                            "than the last write left\n", c->name);
            return -1;
        }
        off += (size_t)n;
    }
    double t = now() - t0;
    close(fd);
    return t;
}

/* Say whether the file is served by FUSE passthrough, when the filesystem
 * tells (shmfs's user.shmfs.passthrough). */
static void note_passthrough(const struct data_ctx *c)
{
    int fd = open_data(c, O_RDONLY);
    if (fd < 0)
        return;
    char v[16];
    ssize_t n = fgetxattr(fd, "user.shmfs.passthrough", v, sizeof(v) - 1);
    if (n >= 0) {
        v[n] = '\0';
        printf("# data: user.shmfs.passthrough=%s\n", v);
    }
    close(fd);
}

static int data_remove(const struct data_ctx *c)
{
    if (unlinkat(c->dfd, c->name, 0) != 0) {
        fail("unlink", c->name, errno);
        return -1;
    }
    return 0;
}

/* One pass of the four data operations over @c; @r picks the bytes. */
static int data_pass(const struct data_ctx *c, unsigned r, double t[4])
{
    unsigned char b = (unsigned char)(0x21 + 2 * r);
    t[0] = mmap_write(c, b);
    t[1] = t[0] < 0 ? -1 : mmap_read(c, b);
    t[2] = t[1] < 0 ? -1 : rw_pass(c, true, (unsigned char)(b + 1));
    t[3] = t[2] < 0 ? -1 : rw_pass(c, false, (unsigned char)(b + 1));
    return t[3] < 0 || stopped() ? -1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* @reps passes over @c, and over @ref too when given (the same segment
 * by another path): then the two take turns pass by pass (each going
 * first every other time), so that both see the same machine; ref's
 * figures print as ref.data.*, and ratio.data.* is the median over the
 * passes of c's bandwidth over ref's in the same pass (a ratio of two
 * figures taken moments apart, so a burst of load elsewhere moves both). */
static int data_passes(struct data_ctx *c, struct data_ctx *ref,
                       unsigned reps)
{
    double best[2][4] = {{1e30, 1e30, 1e30, 1e30}, {1e30, 1e30, 1e30, 1e30}};
    static const char *const metric[4] = {
        "data.mmap_write", "data.mmap_read", "data.write", "data.read"};
    struct data_ctx *ctx[2] = {c, ref};
    int n = ref ? 2 : 1;
    double *ratio = calloc(4 * (size_t)reps, sizeof(*ratio));
    if (!ratio)
        return fail("allocate", "pass ratios", ENOMEM);

    /* Allocate the segment's pages before anything is timed. */
    int status = rw_pass(c, true, 0x5a) < 0 ? -1 : 0;
    if (status == 0)
        note_passthrough(c);
    for (unsigned r = 0; status == 0 && r < reps; r++) {
        double t[2][4];
        for (int k = 0; k < n && status == 0; k++) {
            int i = (int)(k + r) % n;
            status = data_pass(ctx[i], r, t[i]);
            for (int m = 0; m < 4; m++)
                best[i][m] = min_d(best[i][m], t[i][m]);
        }
        for (int m = 0; m < 4 && n == 2 && status == 0; m++)
            ratio[m * reps + r] = t[1][m] / t[0][m];
    }
    for (int i = 0; status == 0 && i < n; i++) {
        for (int m = 0; m < 4; m++) {
            char name[32];
            snprintf(name, sizeof(name), "%s%s", i ? "ref." : "", metric[m]);
            report(name, (double)c->size / MIB / best[i][m], "MiB/s");
        }
    }
    for (int m = 0; status == 0 && m < 4 && n == 2; m++) {
        double *v = ratio + m * reps;
        qsort(v, reps, sizeof(*v), cmp_double);
        double med = reps % 2 ? v[reps / 2]
                              : (v[reps / 2 - 1] + v[reps / 2]) / 2;
        char name[32];
        snprintf(name, sizeof(name), "ratio.%s", metric[m]);
        report(name, med, "x");
    }
    free(ratio);
    return status;
}

/* Create @c's segment (@size bytes); 0 or -1. */
static int data_create(struct data_ctx *c)
{
    int fd = openat(c->dfd, c->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                    0600);
    if (fd < 0) {
        fail("create", c->name, errno);
        return -1;
    }
    int err = ftruncate(fd, (off_t)c->size) != 0 ? errno : 0;
    close(fd);
    if (err) {
        fail("ftruncate", c->name, err);
        data_remove(c);
        return -1;
    }
    return 0;
}

static int bench_data(int dfd, int ref_dfd, const struct opts *o)
{
    struct data_ctx c = {.dfd = dfd, .size = o->size, .block = o->block};
    snprintf(c.name, sizeof(c.name), "shmfs_bench_%ld_data", (long)getpid());
    /* The same segment, reached through REF (the shm directory DIR is a
     * mount of): the same pages, so only the path to them differs. */
    struct data_ctx ref = c;
    ref.dfd = ref_dfd;
    printf("# data: %s, %zu MiB, %zu KiB blocks, best of %u\n", c.name,
           o->size >> 20, o->block >> 10, o->data_reps);

    c.buf = aligned_alloc(4096, o->block);
    if (!c.buf)
        return fail("allocate a block for", c.name, ENOMEM);
    memset(c.buf, 0, o->block);
    ref.buf = c.buf;

    int status = -1;
    if (data_create(&c) == 0) {
        struct stat st;
        if (ref_dfd < 0) {
            status = data_passes(&c, NULL, o->data_reps);
        } else if (fstatat(ref_dfd, ref.name, &st, 0) != 0) {
            fail("find in the --data-ref directory", ref.name, errno);
        } else {
            printf("# data: the same segment through %s, pass by pass in "
                   "turn (ref.data.*)\n",
                   o->data_ref);
            status = data_passes(&c, &ref, o->data_reps);
        }
        if (data_remove(&c) != 0)
            status = -1;
    }
    free(c.buf);
    return status;
}

/* --- metadata -------------------------------------------------------------- */

struct meta_ctx {
    int dfd;
    size_t files;
    char (*names)[NAME_CAP];
    char prefix[PREFIX_CAP];
    size_t live; /* names[0..live) may exist */
};

static double meta_create(struct meta_ctx *c)
{
    double t0 = now();
    for (size_t i = 0; i < c->files; i++) {
        int fd = openat(c->dfd, c->names[i],
                        O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            return fail("create", c->names[i], errno);
        c->live = i + 1;
        int err = ftruncate(fd, META_FILE_SIZE) != 0 ? errno : 0;
        close(fd);
        if (err)
            return fail("ftruncate", c->names[i], err);
    }
    return (now() - t0) / (double)c->files;
}

/* readdir + fstatat of every entry but "." and "..", as `ls -l` does.  Our
 * own files must all be there, with their size.  Seconds per entry. */
static double meta_readdir_stat(const struct meta_ctx *c)
{
    size_t entries = 0, ours = 0, plen = strlen(c->prefix);
    double t0 = now();
    int fd = openat(c->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return fail("open directory", ".", errno);
    }
    struct dirent *e;
    struct stat st;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) /* someone else's file, gone meanwhile */
                continue;
            int err = errno;
            closedir(d);
            return fail("stat", n, err);
        }
        entries++;
        if (strncmp(n, c->prefix, plen) == 0) {
            if (st.st_size != META_FILE_SIZE) {
                fprintf(stderr, "bench_fs: \"%s\" has size %jd, want %d\n", n,
                        (intmax_t)st.st_size, META_FILE_SIZE);
                closedir(d);
                return -1;
            }
            ours++;
        }
        errno = 0;
    }
    int err = errno;
    closedir(d);
    double t = now() - t0;
    if (err)
        return fail("read directory", ".", err);
    if (ours != c->files) {
        fprintf(stderr, "bench_fs: readdir listed %zu of the %zu files made\n",
                ours, c->files);
        return -1;
    }
    return t / (double)entries;
}

static double meta_open_close(const struct meta_ctx *c)
{
    double t0 = now();
    for (size_t i = 0; i < c->files; i++) {
        int fd = openat(c->dfd, c->names[i], O_RDWR | O_CLOEXEC);
        if (fd < 0)
            return fail("open", c->names[i], errno);
        close(fd);
    }
    return (now() - t0) / (double)c->files;
}

static double meta_unlink(struct meta_ctx *c)
{
    double t0 = now();
    for (size_t i = 0; i < c->files; i++)
        if (unlinkat(c->dfd, c->names[i], 0) != 0)
            return fail("unlink", c->names[i], errno);
    c->live = 0;
    return (now() - t0) / (double)c->files;
}

/* Remove whatever a failed or interrupted repetition left. */
static void meta_cleanup(struct meta_ctx *c)
{
    for (size_t i = 0; i < c->live; i++)
        if (unlinkat(c->dfd, c->names[i], 0) != 0 && errno != ENOENT)
            fprintf(stderr, "bench_fs: cannot remove \"%s\": %s\n",
                    c->names[i], strerror(errno));
    c->live = 0;
}

static int meta_reps(struct meta_ctx *c, unsigned reps)
{
    double best[4] = {1e30, 1e30, 1e30, 1e30};
    static const char *const metric[4] = {
        "meta.create_ftruncate", "meta.readdir_stat", "meta.open_close",
        "meta.unlink"};
    static const char *const unit[4] = {"us/op", "us/entry", "us/op", "us/op"};

    for (unsigned r = 0; r < reps; r++) {
        double t[4];
        t[0] = meta_create(c);
        t[1] = t[0] < 0 || g_stop ? -1 : meta_readdir_stat(c);
        t[2] = t[1] < 0 || g_stop ? -1 : meta_open_close(c);
        t[3] = t[2] < 0 || g_stop ? -1 : meta_unlink(c);
        if (t[3] < 0 || stopped())
            return -1;
        for (int k = 0; k < 4; k++)
            best[k] = min_d(best[k], t[k]);
        if (r + 1 < reps)
            usleep(SETTLE_US); /* let the daemon finish with the last burst */
    }
    for (int k = 0; k < 4; k++)
        report(metric[k], best[k] * 1e6, unit[k]);
    return 0;
}

static int bench_meta(int dfd, const struct opts *o)
{
    struct meta_ctx c = {.dfd = dfd, .files = o->files};
    snprintf(c.prefix, sizeof(c.prefix), "shmfs_bench_%ld_m", (long)getpid());
    printf("# meta: %zu files %s*, best of %u\n", o->files, c.prefix,
           o->meta_reps);
    /* Names are made before anything is timed. */
    c.names = calloc(o->files, sizeof(*c.names));
    if (!c.names)
        return fail("allocate names for", c.prefix, ENOMEM);
    for (size_t i = 0; i < o->files; i++)
        snprintf(c.names[i], NAME_CAP, "%s%zu", c.prefix, i);

    int status = meta_reps(&c, o->meta_reps);
    meta_cleanup(&c);
    free(c.names);
    return status;
}

/* --- cat of list elements -------------------------------------------------- */

#define TEXT_CAP 4096

struct cat_ctx {
    const shmseg_ns *ns;
    shmseg_list *list;
    char name[PREFIX_CAP];
    size_t n;
    char (*paths)[PATH_CAP]; /* "<name>/<i>", relative to DIR */
};

/* The elements: ints, floats, 16-byte strs and bytes, bools, None. */
#define ELEM_TEXT_CAP 32

static void make_value(size_t i, struct shmseg_value *v, char *text)
{
    memset(v, 0, sizeof(*v));
    switch (i % 8) {
    case 0:
    case 3:
        v->type = SHMSEG_INT;
        v->u.i = (int64_t)i * 1000003 - 20000000;
        break;
    case 1:
    case 4:
        v->type = SHMSEG_FLOAT;
        v->u.f = (double)i * 0.125 + 1.0 / 3.0;
        break;
    case 2:
    case 6:
        v->type = i % 8 == 2 ? SHMSEG_STR : SHMSEG_BYTES;
        snprintf(text, ELEM_TEXT_CAP, "e%07zu-abcdefg", i); /* 16 bytes */
        v->u.s.ptr = text;
        v->u.s.len = strlen(text);
        break;
    case 5:
        v->type = SHMSEG_BOOL;
        v->u.b = (i / 8) % 2 == 0;
        break;
    default:
        v->type = SHMSEG_NONE;
        break;
    }
}

static int make_list(struct cat_ctx *c)
{
    struct shmseg_value *v = calloc(c->n, sizeof(*v));
    char (*text)[ELEM_TEXT_CAP] = calloc(c->n, sizeof(*text));
    int err = -ENOMEM;
    if (v && text) {
        for (size_t i = 0; i < c->n; i++)
            make_value(i, &v[i], text[i]);
        err = shmseg_list_create(c->ns, c->name, v, c->n, 0600, &c->list);
    }
    free(v);
    free(text);
    if (err < 0) {
        fprintf(stderr, "bench_fs: cannot create list \"%s\" in %s: %s\n",
                c->name, shmseg_ns_path(c->ns), shmseg_strerror(err));
        return -1;
    }
    return 0;
}

/* shmseg_list_get_text() of every element, @passes times.  ns/op. */
static double lib_get_text(const struct cat_ctx *c, unsigned passes)
{
    char buf[TEXT_CAP];
    double t0 = now();
    for (unsigned p = 0; p < passes; p++)
        for (size_t i = 0; i < c->n; i++) {
            ssize_t n = shmseg_list_get_text(c->list, i, buf, sizeof(buf));
            if (n < 0) {
                fprintf(stderr, "bench_fs: \"%s\" element %zu: %s\n", c->name,
                        i, shmseg_strerror((int)n));
                return -1;
            }
        }
    return (now() - t0) / ((double)passes * (double)c->n) * 1e9;
}

/* shmseg_list_attach + get_text + close per element, the library's
 * counterpart of open/read/close.  ns/op. */
static double lib_attach_get_text(const struct cat_ctx *c, unsigned passes)
{
    char buf[TEXT_CAP];
    double t0 = now();
    for (unsigned p = 0; p < passes; p++)
        for (size_t i = 0; i < c->n; i++) {
            shmseg_list *l = NULL;
            int err = shmseg_list_attach(c->ns, c->name, SHMSEG_RDONLY, &l);
            ssize_t n = err < 0 ? err
                                : shmseg_list_get_text(l, i, buf, sizeof(buf));
            shmseg_list_close(l);
            if (n < 0) {
                fprintf(stderr, "bench_fs: \"%s\" element %zu: %s\n", c->name,
                        i, shmseg_strerror((int)n));
                return -1;
            }
        }
    return (now() - t0) / ((double)passes * (double)c->n) * 1e9;
}

/* Read DIR/<path> as cat does: open, read until EOF, close.  Returns the
 * length read or -1. */
static ssize_t cat_file(int dfd, const char *path, char *buf, size_t cap)
{
    int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail("open", path, errno);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            int err = errno;
            close(fd);
            return fail("read", path, err);
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap) {
            close(fd);
            fprintf(stderr, "bench_fs: \"%s\" is longer than %zu bytes\n",
                    path, cap);
            return -1;
        }
    }
    close(fd);
    return (ssize_t)len;
}

/* Wait for DIR/NAME to show up as a directory (the daemon sees the new
 * segment through inotify).  No wait when DIR is the shm directory. */
static bool list_folder_shown(int dfd, const struct cat_ctx *c)
{
    const char *name = c->name;
    struct stat d, s;
    int timeout = LIST_TIMEOUT_MS;
    if (fstat(dfd, &d) == 0 && stat(shmseg_ns_path(c->ns), &s) == 0 &&
        d.st_dev == s.st_dev && d.st_ino == s.st_ino)
        timeout = 0;
    for (int ms = 0; ms <= timeout && !g_stop; ms += 10) {
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode))
            return true;
        usleep(10000);
    }
    return false;
}

/* Every element file must print exactly what get_text gives. */
static int cat_verify(int dfd, const struct cat_ctx *c)
{
    char want[TEXT_CAP], got[TEXT_CAP];
    for (size_t i = 0; i < c->n; i++) {
        ssize_t w = shmseg_list_get_text(c->list, i, want, sizeof(want));
        ssize_t g = cat_file(dfd, c->paths[i], got, sizeof(got));
        if (g < 0)
            return -1;
        if (w != g || memcmp(want, got, (size_t)g) != 0) {
            fprintf(stderr, "bench_fs: \"%s\" prints %zd bytes that are not "
                            "the element's text (%zd bytes)\n",
                    c->paths[i], g, w);
            return -1;
        }
    }
    return 0;
}

/* cat of every element file, @passes times.  us/op. */
static double cat_pass(int dfd, const struct cat_ctx *c, unsigned passes)
{
    char buf[TEXT_CAP];
    double t0 = now();
    for (unsigned p = 0; p < passes && !g_stop; p++)
        for (size_t i = 0; i < c->n; i++)
            if (cat_file(dfd, c->paths[i], buf, sizeof(buf)) < 0)
                return -1;
    return (now() - t0) / ((double)passes * (double)c->n) * 1e6;
}

static int cat_measure(int dfd, struct cat_ctx *c, const struct opts *o)
{
    double lib = 1e30, attach = 1e30, cat = 1e30;
    for (unsigned r = 0; r < o->cat_reps; r++) {
        double t = lib_get_text(c, o->lib_passes);
        double a = t < 0 ? -1 : lib_attach_get_text(c, o->attach_passes);
        if (a < 0 || stopped())
            return -1;
        lib = min_d(lib, t);
        attach = min_d(attach, a);
    }

    if (!list_folder_shown(dfd, c)) {
        if (stopped())
            return -1;
        printf("# cat: %s/%s is not a list folder here: only the library "
               "is timed\n", o->dir, c->name);
    } else {
        if (cat_verify(dfd, c) != 0)
            return -1;
        for (unsigned r = 0; r < o->cat_reps; r++) {
            double t = cat_pass(dfd, c, o->cat_passes);
            if (t < 0 || stopped())
                return -1;
            cat = min_d(cat, t);
        }
        report("cat.element", cat, "us/op");
    }
    report("cat.lib_get_text", lib, "ns/op");
    report("cat.lib_attach_get_text", attach, "ns/op");
    return 0;
}

static int bench_cat(int dfd, const struct opts *o)
{
    struct cat_ctx c = {.n = o->elements};
    shmseg_ns *ns;
    int err = shmseg_ns_open(o->shm_dir, &ns);
    if (err < 0) {
        fprintf(stderr, "bench_fs: cannot open shm directory %s: %s\n",
                o->shm_dir, shmseg_strerror(err));
        return -1;
    }
    c.ns = ns;
    snprintf(c.name, sizeof(c.name), "shmfs_bench_%ld_list", (long)getpid());
    printf("# cat: list %s/%s, %zu elements, best of %u\n", o->shm_dir,
           c.name, c.n, o->cat_reps);

    int status = -1;
    c.paths = calloc(c.n, sizeof(*c.paths));
    if (!c.paths) {
        fail("allocate paths for", c.name, ENOMEM);
        goto out;
    }
    for (size_t i = 0; i < c.n; i++)
        snprintf(c.paths[i], PATH_CAP, "%s/%zu", c.name, i);
    if (make_list(&c) != 0)
        goto out;
    status = cat_measure(dfd, &c, o);
    shmseg_list_close(c.list);
    err = shmseg_unlink(c.ns, c.name);
    if (err < 0) {
        fprintf(stderr, "bench_fs: cannot remove list \"%s\": %s\n", c.name,
                shmseg_strerror(err));
        status = -1;
    }
out:
    free(c.paths);
    shmseg_ns_close(ns);
    return status;
}

/* --- options and main -------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_fs [options] DIR\n"
            "  --workloads LIST  comma-separated data,meta,cat (default all)\n"
            "  --size MIB        data segment size (default 512; quick 64)\n"
            "  --block KIB       read(2)/write(2) block (default 1024)\n"
            "  --files N         metadata file count (default 10000; quick "
            "1000)\n"
            "  --elements N      list elements for cat (default 64)\n"
            "  --reps N          repetitions; the best one counts (default "
            "5 data\n"
            "                    (10 with --data-ref), 3 meta, 5 cat; quick "
            "2)\n"
            "  --shm-dir SHMDIR  where the cat list is created (default "
            "DIR)\n"
            "  --data-ref REF    DIR's shm directory: time the data segment "
            "through\n"
            "                    REF too, pass by pass in turn (ref.data.*)\n"
            "  --quick           small sizes and counts: a smoke run\n"
            "Prints metric<TAB>value<TAB>unit lines; '#' lines are notes.\n");
}

static int parse_size(const char *s, size_t min, size_t max, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_workloads(const char *s, unsigned *out)
{
    char buf[64];
    if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
        return -1;
    *out = 0;
    char *save = NULL;
    for (char *w = strtok_r(buf, ",", &save); w;
         w = strtok_r(NULL, ",", &save)) {
        if (strcmp(w, "data") == 0)
            *out |= W_DATA;
        else if (strcmp(w, "meta") == 0)
            *out |= W_META;
        else if (strcmp(w, "cat") == 0)
            *out |= W_CAT;
        else
            return -1;
    }
    return *out ? 0 : -1;
}

/* Returns 0, or 1 to exit 0 (help), or -1 for a usage error. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    size_t size_mib = 0, block_kib = 1024, reps = 0;
    size_t files = 0, elements = 64;
    bool quick = false;
    o->workloads = W_DATA | W_META | W_CAT;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
        int bad = 0;
        if (strcmp(a, "--quick") == 0) {
            quick = true;
            continue;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 1;
        } else if (a[0] != '-' && !o->dir) {
            o->dir = a;
            continue;
        } else if (!v) {
            bad = 1;
        } else if (strcmp(a, "--workloads") == 0) {
            bad = parse_workloads(v, &o->workloads);
        } else if (strcmp(a, "--size") == 0) {
            bad = parse_size(v, 1, (size_t)1 << 20, &size_mib);
        } else if (strcmp(a, "--block") == 0) {
            bad = parse_size(v, 4, (size_t)1 << 20, &block_kib);
        } else if (strcmp(a, "--files") == 0) {
            bad = parse_size(v, 1, 10000000, &files);
        } else if (strcmp(a, "--elements") == 0) {
            bad = parse_size(v, 1, 1000000, &elements);
        } else if (strcmp(a, "--reps") == 0) {
            bad = parse_size(v, 1, 1000, &reps);
        } else if (strcmp(a, "--shm-dir") == 0) {
            o->shm_dir = v;
        } else if (strcmp(a, "--data-ref") == 0) {
            o->data_ref = v;
        } else {
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "bench_fs: bad argument: %s%s%s\n", a,
                    v ? " " : "", v ? v : "");
            return -1;
        }
        k++;
    }
    if (!o->dir) {
        fprintf(stderr, "bench_fs: no directory given\n");
        return -1;
    }
    if (!o->shm_dir)
        o->shm_dir = o->dir;
    o->size = (size_mib ? size_mib : quick ? 64 : 512) << 20;
    o->block = block_kib << 10;
    o->files = files ? files : quick ? 1000 : 10000;
    o->elements = elements;
    /* Side by side (--data-ref) the best of more passes: the ratio is
     * what counts, and it is a ratio of two noisy figures. */
    o->data_reps = reps ? (unsigned)reps : quick ? 2 : o->data_ref ? 10 : 5;
    o->meta_reps = reps ? (unsigned)reps : quick ? 2 : 3;
    o->cat_reps = reps ? (unsigned)reps : quick ? 2 : 5;
    o->cat_passes = quick ? 20 : 200;
    o->lib_passes = quick ? 2000 : 20000;
    o->attach_passes = quick ? 20 : 200;
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    int r = parse_args(argc, argv, &o);
    if (r != 0) {
        if (r < 0)
            usage(stderr);
        return r < 0 ? 2 : 0;
    }
    if (install_handlers() != 0) {
        perror("bench_fs: sigaction");
        return 1;
    }
    int dfd = open(o.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        fail("open directory", o.dir, errno);
        return 1;
    }
    printf("# bench_fs %s\n", o.dir);

    int ref_dfd = -1;
    if (o.data_ref &&
        (ref_dfd = open(o.data_ref, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        fail("open directory", o.data_ref, errno);
        close(dfd);
        return 1;
    }
    int status = 0;
    if ((o.workloads & W_DATA) && bench_data(dfd, ref_dfd, &o) != 0)
        status = 1;
    if (ref_dfd >= 0)
        close(ref_dfd);
    if (!g_stop && (o.workloads & W_META) && bench_meta(dfd, &o) != 0)
        status = 1;
    if (!g_stop && (o.workloads & W_CAT) && bench_cat(dfd, &o) != 0)
        status = 1;
    close(dfd);
    return g_stop ? 1 : status;
}
