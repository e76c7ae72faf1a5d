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
 * So the daemon starts a small process of its own (this file, run as
 * "shmfs-reaper" through /proc/self/exe, so that it shares none of the
 * daemon's memory, fds or mappings).  It waits for its parent's main
 * thread to end (PR_SET_PDEATHSIG).  A daemon that stops cleanly tells it
 * first (SIGUSR1) and it just exits; otherwise it aborts the connection
 * through fusectl (/sys/fs/fuse/connections/N/abort, mounting fusectl
 * there if it is not), exactly what the kernel does when the fd closes.
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
#include <unistd.h>

#define REAPER_ARGV0 "shmfs-reaper"
#define FUSECTL_DIR "/sys/fs/fuse/connections"

static pid_t reaper_pid = -1;

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

/* Abort connection @conn if it is still there; mounts fusectl if needed. */
static void abort_connection(unsigned long conn, pid_t daemon)
{
    char path[64];
    snprintf(path, sizeof(path), FUSECTL_DIR "/%lu/abort", conn);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT &&
        mount("fusectl", FUSECTL_DIR, "fusectl", 0, NULL) == 0)
        fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return; /* gone with the daemon's fd, or not ours to abort */
    if (write(fd, "1", 1) == 1)
        fprintf(stderr,
                "shmfs: daemon %d ended without unmounting; its FUSE "
                "connection %lu was aborted so that no caller stays stuck\n",
                (int)daemon, conn);
    close(fd);
}

int reaper_main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[0], REAPER_ARGV0) != 0)
        return 2;
    pid_t daemon = (pid_t)strtol(argv[1], NULL, 10);
    unsigned long conn = strtoul(argv[2], NULL, 10);
    /* SIGTERM (the parent-death signal) and SIGUSR1 were blocked before
     * the exec, so neither can be lost. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    for (;;) {
        struct timespec second = {1, 0};
        int sig = sigtimedwait(&set, NULL, &second);
        if (sig == SIGUSR1)
            return 0; /* a clean stop: the daemon unmounts itself */
        /* SIGTERM, or the parent went before PR_SET_PDEATHSIG was set. */
        if (sig == SIGTERM || getppid() != daemon) {
            abort_connection(conn, daemon);
            return 0;
        }
    }
}

void reaper_start(const char *mountpoint)
{
    unsigned long conn = connection_of(mountpoint);
    if (conn == 0) {
        shmfs_log("cannot find the connection of %s: a SIGKILLed daemon "
                  "may need `echo 1 > %s/N/abort`",
                  mountpoint, FUSECTL_DIR);
        return;
    }
    char pid_arg[24], conn_arg[24];
    snprintf(pid_arg, sizeof(pid_arg), "%d", (int)getpid());
    snprintf(conn_arg, sizeof(conn_arg), "%lu", conn);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    /* The path, not /proc/self/exe itself: under valgrind that is
     * valgrind (whose readlink gives the daemon's path). */
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    pid_t pid = -1;
    if (len > 0) {
        exe[len] = '\0';
        pid = fork();
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        closefrom(3); /* /dev/fuse above all: it would keep the connection */
        char *const args[] = {REAPER_ARGV0, pid_arg, conn_arg, NULL};
        execv(exe, args);
        _exit(127);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        shmfs_log("cannot start the reaper (%s): a SIGKILLed daemon may "
                  "need `echo 1 > %s/%lu/abort`",
                  strerror(errno), FUSECTL_DIR, conn);
    else
        reaper_pid = pid;
}

void reaper_stop(void)
{
    if (reaper_pid > 0) {
        kill(reaper_pid, SIGUSR1);
        waitpid(reaper_pid, NULL, 0);
        reaper_pid = -1;
    }
}

bool reaper_argv(int argc, char **argv)
{
    return argc > 0 && strcmp(argv[0], REAPER_ARGV0) == 0;
}
