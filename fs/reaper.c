/*
 * reaper.c - make sure a SIGKILLed daemon never leaves callers stuck.
 *
 * The kernel aborts a FUSE connection when the daemon's last /dev/fuse fd
 * is closed, so a killed daemon normally fails every request in flight at
 * once.  One case defeats that: watch.c's thread may be inside
 * fuse_lowlevel_notify_inval_entry(), which in the kernel waits,
 * uninterruptibly, for the mount root's lock; a caller renaming on the
 * mount holds that lock until the daemon answers.  Killed then, the daemon
 * cannot finish exiting (that thread never wakes), its fd is never closed,
 * the rename is never answered: the caller, the daemon and everyone who
 * touches the mount hang until the connection is aborted by hand.
 *
 * So the daemon opens the connection's abort file in fusectl
 * (/sys/fs/fuse/connections/N/abort, mounting fusectl there if it is not)
 * while the connection is certainly its own, and starts a small process,
 * "shmfs-reaper" (the daemon's executable again, so that it shares none of
 * the daemon's memory, fds or mappings), that holds that file (fd 3) and
 * waits for the daemon's main thread to end (PR_SET_PDEATHSIG, REAPER_SIG).
 * A daemon that stops cleanly tells it first (SIGUSR1) and it just exits;
 * otherwise it writes the abort, exactly what the kernel does when the
 * daemon's fd closes.  A write after the connection has gone does nothing.
 * SIGTERM, SIGINT and SIGHUP (pkill, a service manager stopping the whole
 * group) only make it exit.
 *
 * The daemon keeps the abort file too: a clean stop whose watcher thread is
 * stuck in that same kernel wait (a rename left unanswered when the loop
 * ended) aborts the connection itself (reaper_abort()).
 */
#include "shmfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#define REAPER_ARGV0 "shmfs-reaper"
#define FUSECTL_DIR "/sys/fs/fuse/connections"

#define REAPER_SIG SIGUSR2 /* the parent-death signal: abort */
#define REAPER_FD 3

static pid_t reaper_pid = -1;
static int abort_fd = -1; /* the daemon's own copy (reaper_abort()) */

/* Octal escapes (\040) of /proc/self/mountinfo, in place. */
static void unescape(char *s)
{
    char *out = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' &&
            p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
            *out++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *out++ = *p;
        }
    }
    *out = '\0';
}

/* The kernel's number of the fuse.shmfs connection mounted last at
 * @mountpoint (an absolute path, as mountinfo shows it): the directory
 * name under /sys/fs/fuse/connections.  0 when none is found. */
static unsigned long connection_of(const char *mountpoint)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    unsigned long conn = 0;
    while (getline(&line, &cap, f) > 0) {
        unsigned major, minor;
        char mnt[PATH_MAX * 4 + 1], fstype[64];
        const char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %u:%u %*s %4096s", &major, &minor,
                           mnt) != 3 ||
            sscanf(sep + 3, "%63s", fstype) != 1)
            continue;
        unescape(mnt);
        if (strcmp(fstype, "fuse.shmfs") == 0 && strcmp(mnt, mountpoint) == 0)
            conn = ((unsigned long)major << 20) | minor; /* the kernel's dev_t */
    }
    free(line);
    fclose(f);
    return conn;
}

/* Open the abort file of connection @conn, mounting fusectl if it is not
 * (root only).  Returns the fd or -errno. */
static int open_abort(unsigned long conn)
{
    char path[64];
    snprintf(path, sizeof(path), FUSECTL_DIR "/%lu/abort", conn);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT &&
        mount("fusectl", FUSECTL_DIR, "fusectl", 0, NULL) == 0)
        fd = open(path, O_WRONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* What the reaper waits for: REAPER_SIG (abort), SIGUSR1 (a clean stop),
 * SIGTERM, SIGINT, SIGHUP (just go).  Blocked from before its fork. */
static void reaper_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, REAPER_SIG);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

int reaper_main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[0], REAPER_ARGV0) != 0)
        return 2;
    pid_t daemon = (pid_t)strtol(argv[1], NULL, 10);
    bool use_syslog = strcmp(argv[2], "syslog") == 0;
    prctl(PR_SET_NAME, REAPER_ARGV0); /* pkill -x shmfs is for the daemon */
    /* These were blocked before the exec, so none can be lost. */
    sigset_t set;
    reaper_signals(&set);
    /* The daemon went before PR_SET_PDEATHSIG was set: no signal comes. */
    int sig = getppid() != daemon ? REAPER_SIG : -1;
    while (sig < 0)
        sig = sigwaitinfo(&set, NULL);
    if (sig != REAPER_SIG)
        return 0; /* a clean stop, or told to go */
#define ABORTED_MSG                                                        \
    "daemon %d ended without unmounting: its FUSE connection was aborted, " \
    "so that no caller stays stuck"
    if (write(REAPER_FD, "1", 1) == 1) {
        if (use_syslog) {
            openlog("shmfs", LOG_PID, LOG_DAEMON);
            syslog(LOG_NOTICE, ABORTED_MSG, (int)daemon);
        } else {
            fprintf(stderr, "shmfs: " ABORTED_MSG "\n", (int)daemon);
        }
    }
    return 0;
}

/* In the forked child: keep only the abort file (as REAPER_FD) and the
 * pipe's write end, and become the reaper.  Reports a failure on @wfd. */
static void exec_reaper(const char *exe, char *pid_arg, bool use_syslog,
                        int wfd)
{
    prctl(PR_SET_PDEATHSIG, REAPER_SIG);
    /* Out of REAPER_FD's way, still close-on-exec. */
    int w = fcntl(wfd, F_DUPFD_CLOEXEC, REAPER_FD + 1);
    int err = w < 0 ? errno : 0;
    if (err == 0 && abort_fd == REAPER_FD)
        err = fcntl(REAPER_FD, F_SETFD, 0) < 0 ? errno : 0;
    else if (err == 0)
        err = dup2(abort_fd, REAPER_FD) < 0 ? errno : 0;
    if (err == 0) {
        /* /dev/fuse above all must go: it would keep the connection. */
        for (int fd = REAPER_FD + 1; fd < w; fd++)
            close(fd);
        closefrom(w + 1);
        char *const args[] = {REAPER_ARGV0, pid_arg,
                              use_syslog ? "syslog" : "stderr", NULL};
        execv(exe, args);
        err = errno;
    }
    if (w >= 0 && write(w, &err, sizeof(err)) < 0)
        _exit(126);
    _exit(127);
}

void reaper_start(const char *mountpoint, bool use_syslog)
{
    unsigned long conn = connection_of(mountpoint);
    abort_fd = conn ? open_abort(conn) : -ENOENT;
    if (abort_fd < 0) {
        shmfs_log("cannot open the abort file of this mount's FUSE "
                  "connection (%s): if this daemon is killed while a "
                  "request waits, `echo 1 > %s/N/abort` frees the callers",
                  strerror(-abort_fd), FUSECTL_DIR);
        return;
    }
    char pid_arg[24];
    snprintf(pid_arg, sizeof(pid_arg), "%d", (int)getpid());
    /* The path, not /proc/self/exe itself: under valgrind that is
     * valgrind (whose readlink gives the daemon's path). */
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe));
    if (len <= 0 || (size_t)len >= sizeof(exe)) {
        shmfs_log("cannot find this program's path: no reaper");
        return;
    }
    exe[len] = '\0';
    sigset_t set, old;
    reaper_signals(&set);
    sigprocmask(SIG_BLOCK, &set, &old);
    /* Tells the daemon whether the exec worked (closed by it: yes). */
    int pfd[2] = {-1, -1}, err = 0;
    pid_t pid = -1;
    if (pipe2(pfd, O_CLOEXEC) < 0 || (pid = fork()) < 0)
        err = errno;
    if (pid == 0)
        exec_reaper(exe, pid_arg, use_syslog, pfd[1]);
    if (pid > 0) {
        close(pfd[1]);
        /* Signals still blocked: no EINTR. */
        if (read(pfd[0], &err, sizeof(err)) == sizeof(err))
            waitpid(pid, NULL, 0);
        else
            reaper_pid = pid;
    } else if (pfd[1] >= 0) {
        close(pfd[1]);
    }
    if (pfd[0] >= 0)
        close(pfd[0]);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (reaper_pid < 0)
        shmfs_log("cannot start the reaper (%s): if this daemon is killed "
                  "while a request waits, `echo 1 > %s/N/abort` frees the "
                  "callers",
                  strerror(err), FUSECTL_DIR);
}

void reaper_stop(void)
{
    if (reaper_pid > 0) {
        kill(reaper_pid, SIGUSR1);
        waitpid(reaper_pid, NULL, 0);
        reaper_pid = -1;
    }
    if (abort_fd >= 0)
        close(abort_fd);
    abort_fd = -1;
}

bool reaper_abort(void)
{
    return abort_fd >= 0 && write(abort_fd, "1", 1) == 1;
}

bool reaper_argv(int argc, char **argv)
{
    return argc > 0 && strcmp(argv[0], REAPER_ARGV0) == 0;
}
