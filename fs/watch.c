/*
 * watch.c - coherence with everyone who bypasses the mount.
 *
 * Python and other programs create, resize and unlink segments in the shm
 * directory directly.  The kernel caches the mount's entries and attributes
 * (that is what makes ls and stat fast), so a thread watches the directory
 * with inotify and tells the kernel to drop what changed: the entry for a
 * name created, removed or renamed, the attributes of a segment written,
 * truncated or chmod'ed.  On a queue overflow it drops every entry it knows.
 */
#include "shmfs.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

static int inotify_fd = -1, stop_fd = -1;
static pthread_t thread;
static bool running;

static void inval_name(const char *name, void *arg)
{
    (void)arg;
    fuse_lowlevel_notify_inval_entry(shmfs.se, FUSE_ROOT_ID, name,
                                     strlen(name));
}

/* Drop the cached attributes of every node over the segment @name. */
static void inval_attrs(const char *name)
{
    static const enum node_kind kinds[] = {NODE_SEGMENT, NODE_LIST, NODE_RAW};
    struct stat st;
    if (fstatat(shmfs.dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return;
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        fuse_ino_t id = node_find(kinds[k], st.st_ino);
        if (id)
            fuse_lowlevel_notify_inval_inode(shmfs.se, id, -1, 0);
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
    if (!ev->len || seg_name_hidden(ev->name))
        return;
    if (ev->mask & (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE))
        inval_attrs(ev->name);
    /* Any change may also change the kind (segment or list) of the name. */
    inval_name(ev->name, NULL);
}

static void *watch_main(void *arg)
{
    (void)arg;
    alignas(struct inotify_event) char buf[64 * 1024];
    struct pollfd pf[2] = {{.fd = inotify_fd, .events = POLLIN},
                           {.fd = stop_fd, .events = POLLIN}};
    for (;;) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[1].revents)
            break;
        ssize_t len = read(inotify_fd, buf, sizeof(buf));
        if (len <= 0)
            continue;
        for (char *p = buf; p < buf + len;) {
            const struct inotify_event *ev = (const void *)p;
            handle(ev);
            p += sizeof(*ev) + ev->len;
        }
    }
    return NULL;
}

int watch_start(void)
{
    inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    stop_fd = eventfd(0, EFD_CLOEXEC);
    if (inotify_fd < 0 || stop_fd < 0)
        goto fail;
    if (inotify_add_watch(inotify_fd, shmfs.dir,
                          IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                              IN_MOVED_TO | IN_MODIFY | IN_ATTRIB |
                              IN_CLOSE_WRITE | IN_DELETE_SELF |
                              IN_MOVE_SELF | IN_ONLYDIR) < 0)
        goto fail;
    /* Signals are for the main thread (SIGTERM unmounts). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = pthread_create(&thread, NULL, watch_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        errno = err;
        goto fail;
    }
    running = true;
    return 0;
fail:
    err = -errno;
    watch_stop();
    return err;
}

void watch_stop(void)
{
    if (running) {
        uint64_t one = 1;
        if (write(stop_fd, &one, sizeof(one)) == sizeof(one))
            pthread_join(thread, NULL);
        running = false;
    }
    if (inotify_fd >= 0)
        close(inotify_fd);
    if (stop_fd >= 0)
        close(stop_fd);
    inotify_fd = stop_fd = -1;
}
