/*
 * watch.c - coherence with everyone who bypasses the mount.
 *
 * Python and other programs create, resize and unlink segments in the shm
 * directory directly.  The kernel caches the mount's entries and attributes
 * (that is what makes ls and stat fast), so a thread watches the directory
 * with inotify and tells the kernel to drop what changed: the entry of a
 * name removed or renamed, the attributes of a segment written, truncated or
 * chmod'ed, and the root's when the directory's own mode or owner changes.
 * On a queue overflow it drops every entry it knows.
 *
 * One change has no event: a segment becoming a ShareableList (or ceasing
 * to be one) when its bytes are written through a mapping, as Python does
 * right after it sizes a new list's segment.  So every size change also
 * queues three later looks at the segment's kind (after CHECK1_MS,
 * CHECK2_MS and CHECK3_MS); when the kind differs from the node the kernel
 * holds, its entry is dropped.  The 100 ms look also puts right a listing
 * or lookup that read the bytes before the layout and was answered after
 * the folder was shown.  Any other such change shows when the kernel's
 * entry times out (shmfs.timeout).
 *
 * The thread also wakes once a second to let list folders drop the lists
 * they keep mapped once idle (list_maps_sweep()).
 */
#include "shmfs.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

/* Events are taken in batches: waking up for every event of a burst (a
 * program creating thousands of segments) would take the CPU from the
 * threads serving requests. */
#define BATCH_MS 10
#define CHECK1_MS 20
#define CHECK2_MS 100
#define CHECK3_MS 500
#define NQUEUES 3
#define QUEUE_LEN 8192 /* per delay; past that the timeout catches up */

static int inotify_fd = -1, stop_fd = -1;
static pthread_t thread;
static bool running;

/* Kind checks due, one FIFO per delay (so each is in time order). */
struct check {
    struct timespec due;
    char *name;
};
struct check_queue {
    struct check items[QUEUE_LEN];
    size_t head, len;
    long delay_ms;
};
static struct check_queue queues[NQUEUES] = {{.delay_ms = CHECK1_MS},
                                             {.delay_ms = CHECK2_MS},
                                             {.delay_ms = CHECK3_MS}};

static long ms_until(const struct timespec *due, const struct timespec *now)
{
    return (due->tv_sec - now->tv_sec) * 1000 +
           (due->tv_nsec - now->tv_nsec) / 1000000;
}

static void queue_check(const char *name, const struct timespec *now)
{
    for (size_t q = 0; q < NQUEUES; q++) {
        struct check_queue *cq = &queues[q];
        struct check *c =
            cq->len ? &cq->items[(cq->head + cq->len - 1) % QUEUE_LEN] : NULL;
        /* A burst of changes to one segment: one check, after the last. */
        if (!c || strcmp(c->name, name) != 0) {
            if (cq->len == QUEUE_LEN)
                continue;
            char *copy = strdup(name);
            if (!copy)
                return;
            c = &cq->items[(cq->head + cq->len++) % QUEUE_LEN];
            c->name = copy;
        }
        c->due.tv_sec = now->tv_sec + cq->delay_ms / 1000;
        c->due.tv_nsec = now->tv_nsec + (cq->delay_ms % 1000) * 1000000;
        if (c->due.tv_nsec >= 1000000000) {
            c->due.tv_sec++;
            c->due.tv_nsec -= 1000000000;
        }
    }
}

static void inval_name(const char *name, void *arg)
{
    (void)arg;
    fuse_lowlevel_notify_inval_entry(shmfs.se, FUSE_ROOT_ID, name,
                                     strlen(name));
}

/* Drop the cached attributes of every node over the segment @name whose
 * size, mode or owner changed (since this thread last looked, or from what
 * the kernel was told: see node_find_changed()).  Times alone do not
 * count: every write through the mount would otherwise cost its writer a
 * refetch (and the kernel's security.capability check) on the next write;
 * the kernel sees new times when its attributes time out. */
static void inval_attrs(const char *name)
{
    static const enum node_kind kinds[] = {NODE_SEGMENT, NODE_LIST, NODE_RAW};
    struct stat st;
    if (fstatat(shmfs.dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return;
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        fuse_ino_t id = node_find_changed(kinds[k], &st);
        if (id)
            fuse_lowlevel_notify_inval_inode(shmfs.se, id, -1, 0);
    }
}

/* If @name's kind is not the one of the node the kernel may hold for it,
 * make the kernel look it up again. */
static void check_kind(const char *name)
{
    struct stat st;
    enum node_kind kind;
    /* Not patient: this thread serves every name, and a list caught
     * mid-update only costs the kernel one more lookup. */
    if (seg_stat(name, &st) < 0 || seg_classify(name, &st, false, &kind) < 0)
        return;
    /* The node's kind must not come back from a listing either: a readdir
     * reusing it (node_recent_kind()) would undo this invalidation. */
    if (node_kind_gone(kind == NODE_LIST ? NODE_SEGMENT : NODE_LIST,
                       st.st_ino))
        inval_name(name, NULL);
}

/* Run the checks that are due; returns the ms until the next one, or -1. */
static int run_checks(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long next = -1;
    for (size_t q = 0; q < NQUEUES; q++) {
        struct check_queue *cq = &queues[q];
        while (cq->len) {
            struct check *c = &cq->items[cq->head];
            long wait = ms_until(&c->due, &now);
            if (wait > BATCH_MS) { /* run what is due soon with this batch */
                if (next < 0 || wait < next)
                    next = wait;
                break;
            }
            check_kind(c->name);
            free(c->name);
            cq->head = (cq->head + 1) % QUEUE_LEN;
            cq->len--;
        }
    }
    return (int)next;
}

static void drop_checks(void)
{
    for (size_t q = 0; q < NQUEUES; q++) {
        for (; queues[q].len; queues[q].len--) {
            free(queues[q].items[queues[q].head].name);
            queues[q].head = (queues[q].head + 1) % QUEUE_LEN;
        }
    }
}

static void handle(const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        node_foreach_named(inval_name, NULL);
        return;
    }
    if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
        shmfs_log("the shm directory %s was removed or moved; the mount "
                  "shows what is left",
                  shmfs.dir);
        return;
    }
    if (!ev->len) { /* the shm directory itself: the mount's root */
        if (ev->mask & IN_ATTRIB)
            fuse_lowlevel_notify_inval_inode(shmfs.se, FUSE_ROOT_ID, -1, 0);
        return;
    }
    if (seg_name_hidden(ev->name))
        return;
    if (ev->mask & (IN_MODIFY | IN_ATTRIB))
        inval_attrs(ev->name);
    if (ev->mask & IN_MODIFY) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        queue_check(ev->name, &now);
    }
    /* Lookups of missing names are never cached, so a new name needs
     * nothing; a name gone or replaced does. */
    if (ev->mask & (IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO))
        inval_name(ev->name, NULL);
}

static void *watch_main(void *arg)
{
    (void)arg;
    alignas(struct inotify_event) char buf[64 * 1024];
    struct pollfd pf[2] = {{.fd = inotify_fd, .events = POLLIN},
                           {.fd = stop_fd, .events = POLLIN}};
    struct timespec last_sweep = {0, 0}, now;
    for (;;) {
        /* At least once a second: idle list maps are dropped. */
        int wait = run_checks();
        if (poll(pf, 2, wait < 0 || wait > 1000 ? 1000 : wait) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[1].revents)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (ms_until(&now, &last_sweep) >= 1000) {
            list_maps_sweep();
            last_sweep = now;
        }
        if (!pf[0].revents)
            continue;
        struct timespec batch = {0, BATCH_MS * 1000000L};
        nanosleep(&batch, NULL);
        ssize_t len;
        while ((len = read(inotify_fd, buf, sizeof(buf))) > 0) {
            for (char *p = buf; p < buf + len;) {
                const struct inotify_event *ev = (const void *)p;
                handle(ev);
                p += sizeof(*ev) + ev->len;
            }
        }
    }
    return NULL;
}

int watch_open(void)
{
    inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    stop_fd = eventfd(0, EFD_CLOEXEC);
    if (inotify_fd < 0 || stop_fd < 0 ||
        inotify_add_watch(inotify_fd, shmfs.dir,
                          IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                              IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF |
                              IN_MOVE_SELF | IN_ONLYDIR) < 0) {
        int err = -errno;
        watch_stop();
        return err;
    }
    return 0;
}

int watch_start(void)
{
    if (inotify_fd < 0)
        return -EBADF; /* watch_open() failed (and said why) */
    /* Signals are for the main thread (SIGTERM unmounts); faults stay
     * with the thread that makes them. */
    sigset_t old;
    block_async_signals(&old);
    int err = pthread_create(&thread, NULL, watch_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        watch_stop();
        return -err;
    }
    running = true;
    return 0;
}

/* Join the watcher within @seconds; false if it is still running. */
static bool joined_within(int seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    return pthread_timedjoin_np(thread, NULL, &until) == 0;
}

void watch_stop(void)
{
    if (running) {
        uint64_t one = 1;
        if (write(stop_fd, &one, sizeof(one)) == sizeof(one) &&
            !joined_within(2)) {
            /* Stuck in the kernel: an entry invalidation waits for the
             * root's lock, which a request the stopped loop will never
             * answer holds (a rename).  Failing it frees the thread. */
            shmfs_log("the watcher is stuck behind an unanswered request: "
                      "aborting the connection");
            if (reaper_abort())
                pthread_join(thread, NULL);
        }
        running = false;
    }
    drop_checks();
    if (inotify_fd >= 0)
        close(inotify_fd);
    if (stop_fd >= 0)
        close(stop_fd);
    inotify_fd = stop_fd = -1;
}
