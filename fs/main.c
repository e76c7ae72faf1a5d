/*
 * main.c - the shmfs daemon: command line, mount, signals, request loop.
 *
 *   shmfs [--shm-dir DIR] [-f] [-d] [-s] [-o OPTIONS] MOUNTPOINT
 *   shmfs DIR MOUNTPOINT [-o OPTIONS]        (as mount.fuse3 runs it)
 *
 * Mounts the segment namespace DIR (default /dev/shm) at MOUNTPOINT with
 * fsname DIR and subtype shmfs, and default_permissions unless the daemon
 * checks permissions itself (see own_checks() below).  Like every
 * libfuse filesystem it daemonizes unless -f; SIGTERM, SIGINT and SIGHUP
 * unmount and exit 0.
 */
#include "shmfs.h"
#include "compat.h"
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

struct shmfs shmfs = {
    .dirfd = -1,
    /* inotify keeps the kernel's caches coherent; the timeout bounds only
     * what no event reports (a segment laid out as a list through a
     * mapping long after it was sized). */
    .timeout = 10.0,
    .lock = PTHREAD_MUTEX_INITIALIZER,
};

static bool use_syslog;

void shmfs_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (use_syslog) {
        vsyslog(LOG_NOTICE, fmt, ap);
    } else {
        /* One write per line: threads log at once. */
        char line[512];
        vsnprintf(line, sizeof(line), fmt, ap);
        fprintf(stderr, "shmfs: %s\n", line);
    }
    va_end(ap);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shmfs [--shm-dir DIR] [-f] [-d] [-s] [-o OPTIONS] "
            "MOUNTPOINT\n"
            "       shmfs DIR MOUNTPOINT [-o OPTIONS]\n"
            "\n"
            "Mount the POSIX shared memory namespace DIR (default %s) at\n"
            "MOUNTPOINT: segments are files, ShareableLists are folders of\n"
            "element files.  See shmfs(8).\n"
            "\n"
            "    --shm-dir DIR      the namespace directory (default %s)\n"
            "    --no-passthrough   serve read, write and mmap through the\n"
            "                       daemon, as when passthrough is refused\n"
            "    --no-uring         take requests from /dev/fuse even when\n"
            "                       the kernel offers io_uring\n"
            "    -f                 stay in the foreground\n"
            "    -d                 debug: print every request (implies -f)\n"
            "    -s                 serve requests on one thread (from\n"
            "                       /dev/fuse: implies --no-uring)\n"
            "    -o OPTIONS         mount options (allow_other, ro, ...)\n"
            "    -h, --help         this help, then libfuse's options\n"
            "    -V, --version      versions\n",
            SHMSEG_DEFAULT_DIR, SHMSEG_DEFAULT_DIR);
}

/* Pull shmfs's own arguments out of argv; the rest goes to libfuse.
 * Returns 0, or 2 for a usage error (message printed). */
static int split_args(int argc, char **argv, struct fuse_args *args,
                      const char **dir)
{
    const char *positional[2];
    int npos = 0;

    fuse_opt_add_arg(args, argv[0]);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--shm-dir") == 0) {
            if (++i == argc) {
                fprintf(stderr, "shmfs: --shm-dir needs a directory\n");
                return 2;
            }
            *dir = argv[i];
        } else if (strncmp(a, "--shm-dir=", 10) == 0) {
            *dir = a + 10;
        } else if (strcmp(a, "--no-passthrough") == 0) {
            shmfs.no_passthrough = true;
        } else if (strcmp(a, "--no-uring") == 0) {
            shmfs.no_uring = true;
        } else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
            fuse_opt_add_arg(args, a);
            fuse_opt_add_arg(args, argv[++i]);
        } else if (a[0] == '-' && a[1]) {
            fuse_opt_add_arg(args, a);
        } else if (npos < 2) {
            positional[npos++] = a;
        } else {
            fprintf(stderr, "shmfs: unexpected argument \"%s\"\n", a);
            return 2;
        }
    }
    /* mount(8) runs "shmfs SOURCE MOUNTPOINT -o ...": SOURCE is the dir. */
    if (npos == 2)
        *dir = positional[0];
    if (npos > 0)
        fuse_opt_add_arg(args, positional[npos - 1]);
    return 0;
}

/* Open the namespace directory: shmfs.dir, shmfs.dirfd, shmfs.ns. */
static int open_dir(const char *dir)
{
    char *abs = realpath(dir, NULL);
    if (!abs) {
        fprintf(stderr, "shmfs: cannot use shm directory \"%s\": %s\n", dir,
                strerror(errno));
        return -1;
    }
    shmfs.dir = abs;
    shmfs.dirfd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int err = shmfs.dirfd < 0 ? -errno : shmseg_ns_open(abs, &shmfs.ns);
    if (err < 0) {
        fprintf(stderr, "shmfs: cannot open shm directory \"%s\": %s\n", abs,
                shmseg_strerror(err));
        return -1;
    }
    return 0;
}

/*
 * Who checks permissions (cred.c): the kernel (default_permissions), on
 * the attributes shmfs reports, which are the segments' own; or, on a
 * mount only the mounter may use (no allow_other or allow_root) when the
 * mounter is root, the daemon itself, by the same rules, which saves the
 * requests the kernel spends refetching the root's attributes.  Either
 * way a caller can do through the mount what it could do in the shm
 * directory, and nothing more.  -o default_permissions keeps the kernel's.
 */
static bool own_checks(const struct fuse_args *args)
{
    /* Parsed as libfuse parses them (escapes and all), from a copy. */
    struct seen {
        int others, dp;
    } seen = {0, 0};
    static const struct fuse_opt opts[] = {
        {"allow_other", offsetof(struct seen, others), 1},
        {"allow_root", offsetof(struct seen, others), 1},
        {"default_permissions", offsetof(struct seen, dp), 1},
        FUSE_OPT_END,
    };
    struct fuse_args copy = FUSE_ARGS_INIT(args->argc, args->argv);
    int rc = fuse_opt_parse(&copy, &seen, opts, NULL);
    fuse_opt_free_args(&copy);
    return rc == 0 && geteuid() == 0 && !seen.others && !seen.dp;
}

/*
 * The options every shmfs mount gets.  fsname is the directory, escaped as
 * libfuse parses options (a ',' in the path must not start another option).
 */
static char *mount_options(const char *dir)
{
    const char *fixed = shmfs.own_checks
                            ? "subtype=shmfs,fsname="
                            : "default_permissions,subtype=shmfs,fsname=";
    size_t flen = strlen(fixed);
    char *opts = malloc(flen + 1 + 2 * strlen(dir));
    if (!opts)
        return NULL;
    char *p = opts + flen;
    memcpy(opts, fixed, flen);
    for (; *dir; dir++) {
        if (*dir == ',' || *dir == '\\')
            *p++ = '\\';
        *p++ = *dir;
    }
    *p = '\0';
    return opts;
}

/* One fd per open segment node: allow as many as the system does (root
 * may raise the hard limit to fs.nr_open), else the hard limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    unsigned long nr_open = 0;
    FILE *f = fopen("/proc/sys/fs/nr_open", "re");
    if (f) {
        if (fscanf(f, "%lu", &nr_open) != 1)
            nr_open = 0;
        fclose(f);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (nr_open > rl.rlim_max) {
        struct rlimit all = {nr_open, nr_open};
        if (setrlimit(RLIMIT_NOFILE, &all) == 0)
            return;
    }
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

static int serve(struct fuse_session *se, const struct fuse_cmdline_opts *o)
{
    if (o->singlethread)
        return fuse_session_loop(se);
    /* One thread while the ring serves; then (or when the session ended:
     * the loop below returns at once, with its status) several. */
    if (!shmfs.no_uring)
        uring_serve_dev(se);
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    if (!cfg)
        return -ENOMEM;
    fuse_loop_cfg_set_clone_fd(cfg, (unsigned)o->clone_fd);
    /* UINT_MAX: not given; libfuse's defaults apply. */
    if (o->max_idle_threads != UINT_MAX)
        fuse_loop_cfg_set_idle_threads(cfg, o->max_idle_threads);
    if (o->max_threads != UINT_MAX)
        fuse_loop_cfg_set_max_threads(cfg, o->max_threads);
    int rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    struct fuse_cmdline_opts opts;
    const char *dir = SHMSEG_DEFAULT_DIR;
    struct fuse_session *se = NULL;
    char *mopts = NULL;
    int status = 1;

    if (reaper_argv(argc, argv))
        return reaper_main(argc, argv);
    memset(&opts, 0, sizeof(opts));
    if (split_args(argc, argv, &args, &dir) != 0) {
        usage(stderr);
        status = 2;
        goto out;
    }
    if (fuse_parse_cmdline(&args, &opts) != 0) {
        usage(stderr);
        status = 2;
        goto out;
    }
    /* One thread means one: the ring's threads are more. */
    if (opts.singlethread)
        shmfs.no_uring = true;
    if (opts.show_help) {
        usage(stdout);
        printf("\nlibfuse options:\n");
        fuse_cmdline_help();
        fuse_lowlevel_help();
        status = 0;
        goto out;
    }
    if (opts.show_version) {
        printf("shmfs version 0.1.0\n");
        fuse_lowlevel_version();
        status = 0;
        goto out;
    }
    if (!opts.mountpoint) {
        fprintf(stderr, "shmfs: no mount point given\n");
        usage(stderr);
        status = 2;
        goto out;
    }
    if (open_dir(dir) < 0)
        goto out;
    shmfs.own_checks = own_checks(&args);
    mopts = mount_options(shmfs.dir);
    if (!mopts || fuse_opt_add_arg(&args, "-o") != 0 ||
        fuse_opt_add_arg(&args, mopts) != 0)
        goto out;

    umask(0); /* modes are set exactly as callers ask */
    raise_fd_limit();
    if (guard_init() < 0 || node_table_init() < 0 || cred_init() < 0)
        goto out;
    se = fuse_session_new(&args, &shmfs_ops, sizeof(shmfs_ops), NULL);
    if (!se)
        goto out;
    shmfs.se = se;
    if (fuse_set_signal_handlers(se) != 0)
        goto out;
    /* Before the mount appears: a change made as soon as it is there is
     * seen (the thread that handles it starts after daemonizing). */
    int err = watch_open();
    if (err < 0)
        shmfs_log("cannot watch %s (%s): changes made outside the mount "
                  "show only after the cache times out",
                  shmfs.dir, strerror(-err));
    if (fuse_session_mount(se, opts.mountpoint) != 0)
        goto out_handlers;
    if (compat_session_setup(se) < 0) {
        fprintf(stderr, "shmfs: cannot set up the FUSE session\n");
        goto out_unmount;
    }
    if (fuse_daemonize(opts.foreground) != 0)
        goto out_unmount;
    if (!opts.foreground) {
        openlog("shmfs", LOG_PID, LOG_DAEMON);
        use_syslog = true;
    }
    reaper_start(opts.mountpoint, use_syslog);
    /* Threads only after daemonizing: fork keeps none of them. */
    if (err == 0 && (err = watch_start()) < 0)
        shmfs_log("cannot start watching %s (%s): changes made outside the "
                  "mount show only after the cache times out",
                  shmfs.dir, strerror(-err));
    int rc = serve(se, &opts);
    watch_stop();
    reaper_stop();
    /* A signal ends the loop with its number: that is a clean stop. */
    status = (rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP) ? 0
                                                                        : 1;
out_unmount:
    fuse_session_unmount(se);
    uring_stop();
out_handlers:
    fuse_remove_signal_handlers(se);
out:
    watch_stop(); /* (again: a no-op) or after a failed mount */
    if (se)
        fuse_session_destroy(se);
    handle_free_all();
    node_table_free();
    shmseg_ns_close(shmfs.ns);
    if (shmfs.dirfd >= 0)
        close(shmfs.dirfd);
    free(shmfs.dir);
    free(mopts);
    free(opts.mountpoint);
    fuse_opt_free_args(&args);
    return status;
}
