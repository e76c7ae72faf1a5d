/*
 * uring.c - serve FUSE requests over io_uring (see uring.h).
 *
 * Kernel protocol (fs/fuse/dev_uring.c, ABI 7.42+): each ring entry is a
 * header buffer (fuse_in_header / fuse_out_header, the opcode's own header,
 * and an in/out trailer) plus a payload buffer, registered with an
 * IORING_OP_URING_CMD (FUSE_IO_URING_CMD_REGISTER) on the /dev/fuse fd.  The
 * command completes when a request has been copied into the entry; the
 * reply is written into the same buffers and handed back with
 * COMMIT_AND_FETCH, which also waits for the next request.  The ring is used
 * only once every CPU's queue has an entry; a failed registration makes the
 * kernel fall back to /dev/fuse by itself.
 *
 * Requests are handed to libfuse as one buffer laid out as /dev/fuse would
 * deliver it: the payload buffer has room in front of it where the two
 * headers are copied, so the payload itself is never copied.  libfuse's
 * reply comes back through the session's writev hook (compat.c), which
 * calls uring_capture_reply() on this thread.
 */
#include "uring.h"
#include "kabi.h"
#include "shmfs.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Kernel ABI (include/uapi/linux/fuse.h, 7.42); Debian 12's headers
 * predate it. */
#define K_CMD_REGISTER 1
#define K_CMD_COMMIT_AND_FETCH 2
#define K_OP_IN_LEN 128     /* FUSE_URING_OP_IN_OUT_SZ */

struct k_ent_in_out {
    uint64_t flags;
    uint64_t commit_id; /* the request's unique */
    uint32_t payload_sz;
    uint32_t padding;
    uint64_t reserved;
};

struct k_req_header {
    unsigned char in_out[128]; /* fuse_in_header, or fuse_out_header */
    unsigned char op_in[K_OP_IN_LEN];
    struct k_ent_in_out ent;
};

struct k_cmd_req {
    uint64_t flags;
    uint64_t commit_id;
    uint16_t qid;
    uint8_t padding[6];
};

/* Room in front of the payload for the headers libfuse expects there. */
#define FRONT 256
#define TAG_FUSE 1
#define TAG_STOP 2

/* Threads per ring queue (per CPU); each owns one ring entry, so a slow
 * request holds one thread and the queue's others go on.  Two were too
 * few: a lookup of a list caught mid-update waits up to 26 ms for it
 * (transient_retry()), and with both threads of a CPU waiting, that CPU's
 * callers queued behind them (tests/fs/test_hostile.py, where readers and
 * a writer race on list headers, then missed its bounds about 1 run in
 * 10; with four, 0 in 10, as with /dev/fuse's thread pool). */
#define URING_THREADS_PER_QUEUE 4
/* ... halved while queues * threads would pass this (many CPUs). */
#define URING_MAX_THREADS 64

/* uring_serve_dev(): how long forgets gather after one. */
#define FORGET_BATCH_MS 10

struct ring_thread {
    pthread_t tid;
    unsigned qid;
    struct io_uring ring;
    struct k_req_header hdr;
    unsigned char *mem; /* FRONT bytes, then the payload buffer */
    size_t payload_len;
    struct iovec iov[2];
    bool fault_register; /* test hook (SHMFS_URING_FAULT) */
    /* Requests served: this thread's own count (no cache line shared
     * between CPUs on every request), summed for user.shmfs.transport. */
    atomic_ulong requests;
    /* The request being served on this thread, and its reply. */
    uint64_t unique;
    bool replied;
};

static struct {
    struct fuse_session *se;
    int devfd;
    int stopfd; /* eventfd: written once to end every thread */
    unsigned nqueues, nthreads;
    struct ring_thread *threads;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int go; /* 0: wait, 1: register, -1: end */
    unsigned nready; /* threads that made their ring (or failed to) */
    int err;         /* the first thread's failure */
    /* Per queue, the threads serving (or waiting for) requests. */
    atomic_uint *queue_live;
} u = {
    .devfd = -1,
    .stopfd = -1,
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};

static __thread struct ring_thread *serving_thread;

/* The kernel makes one queue per possible CPU and uses the ring only once
 * each has an entry, so this count must be the kernel's. */
static int possible_cpus(void)
{
    FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
    if (!f)
        return -errno;
    int last = -1, lo, hi, n;
    while ((n = fscanf(f, "%d-%d", &lo, &hi)) >= 1) {
        last = n == 2 ? hi : lo;
        if (fgetc(f) != ',')
            break;
    }
    fclose(f);
    return last >= 0 ? last + 1 : -EINVAL;
}

/* Queue a FUSE command on @t's ring (four entries; at most two are ever
 * in flight, so one is always free). */
static void cmd_sqe(struct ring_thread *t, uint32_t op, uint64_t commit_id)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);
    if (!sqe)
        return;
    memset(sqe, 0, 2 * sizeof(*sqe)); /* SQE128 */
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = u.devfd;
    sqe->cmd_op = op;
    sqe->addr = (uintptr_t)t->iov;
    sqe->len = 2;
    io_uring_sqe_set_data64(sqe, TAG_FUSE);
    struct k_cmd_req *req = (struct k_cmd_req *)sqe->cmd;
    req->qid = (uint16_t)t->qid;
    req->commit_id = commit_id;
}

/* Fill the entry's header with an error reply for @unique. */
static void reply_error(struct ring_thread *t, uint64_t unique, int err)
{
    uint32_t len = K_OUT_HEADER_LEN;
    int32_t error = -err;
    memcpy(t->hdr.in_out, &len, 4);
    memcpy(t->hdr.in_out + 4, &error, 4);
    memcpy(t->hdr.in_out + 8, &unique, 8);
    t->hdr.ent.payload_sz = 0;
}

/* Hand the request in the entry to libfuse; the reply ends up in the
 * entry.  Returns the request's unique, to commit. */
static uint64_t serve(struct ring_thread *t)
{
    uint32_t len;
    uint64_t unique;
    memcpy(&len, t->hdr.in_out, 4);
    memcpy(&unique, t->hdr.in_out + 8, 8);
    uint64_t commit = t->hdr.ent.commit_id;
    size_t payload = t->hdr.ent.payload_sz;
    if (len < K_IN_HEADER_LEN + payload || payload > t->payload_len ||
        len - K_IN_HEADER_LEN - payload > K_OP_IN_LEN) {
        shmfs_log("io_uring: malformed request (length %u, payload %zu)",
                  len, payload);
        reply_error(t, commit, EIO);
        return commit;
    }
    size_t op_len = len - K_IN_HEADER_LEN - payload;
    unsigned char *start = t->mem + FRONT - K_IN_HEADER_LEN - op_len;
    memcpy(start, t->hdr.in_out, K_IN_HEADER_LEN);
    memcpy(start + K_IN_HEADER_LEN, t->hdr.op_in, op_len);
    struct fuse_buf buf = {.mem = start, .size = len};
    /* Counted before it is served: a getxattr of user.shmfs.transport
     * that comes through the ring counts itself. */
    atomic_fetch_add_explicit(&t->requests, 1, memory_order_relaxed);
    t->unique = unique;
    t->replied = false;
    serving_thread = t;
    fuse_session_process_buf(u.se, &buf);
    serving_thread = NULL;
    if (!t->replied) {
        /* Every request on the ring expects a reply; none must be lost,
         * or its caller would wait for ever. */
        shmfs_log("io_uring: request %llu got no reply",
                  (unsigned long long)unique);
        reply_error(t, unique, EIO);
    }
    return commit;
}

ssize_t uring_capture_reply(const struct iovec *iov, int count)
{
    struct ring_thread *t = serving_thread;
    if (!t || count < 1 || iov[0].iov_len != K_OUT_HEADER_LEN)
        return -1;
    uint64_t unique;
    memcpy(&unique, (const unsigned char *)iov[0].iov_base + 8, 8);
    if (unique != t->unique || t->replied)
        return -1; /* a notification, or not this request's */
    size_t total = K_OUT_HEADER_LEN, off = 0;
    for (int i = 1; i < count; i++)
        total += iov[i].iov_len;
    if (total - K_OUT_HEADER_LEN > t->payload_len) {
        shmfs_log("io_uring: reply of %zu bytes does not fit", total);
        reply_error(t, unique, EIO);
    } else {
        memcpy(t->hdr.in_out, iov[0].iov_base, K_OUT_HEADER_LEN);
        for (int i = 1; i < count; i++) {
            memcpy(t->mem + FRONT + off, iov[i].iov_base, iov[i].iov_len);
            off += iov[i].iov_len;
        }
        t->hdr.ent.payload_sz = (uint32_t)off;
    }
    t->replied = true;
    return (ssize_t)total;
}

/* Make the thread's ring and buffer, on the thread itself: a ring with
 * IORING_SETUP_SINGLE_ISSUER belongs to the task that makes it, and with
 * COOP_TASKRUN the kernel hands it requests when that task enters the
 * kernel (it waits there between requests), without interrupting it.
 *
 * Not DEFER_TASKRUN: the kernel hands a request to a free ring entry as
 * task work of the entry's thread, and deferred task work of a thread that
 * has died runs only when the ring is closed.  Were the daemon SIGKILLed
 * while its watcher waits for the root's lock (reaper.c), a request handed
 * over then would keep that lock's holder waiting for ever, abort or not,
 * and the ring would never close.  Plain task work runs as its thread
 * dies, or at once if it is dead, as "cancelled", and the abort ends it
 * (tests/stress/repro_kill_deadlock.py).  The price, measured side by
 * side: about 1 us per request (create+ftruncate about 56 against 53 us,
 * cat of an element 51 against 47).  Kernels before 6.0 lack these flags.
 */
static int ring_setup(struct ring_thread *t)
{
    /* Anonymous memory: pages only as far as payloads reach, and defined
     * for memcheck, which cannot see the kernel fill it. */
    void *mem = mmap(NULL, FRONT + t->payload_len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return -errno;
    t->mem = mem;
    t->iov[0] = (struct iovec){&t->hdr, sizeof(t->hdr)};
    t->iov[1] = (struct iovec){t->mem + FRONT, t->payload_len};
    int err = io_uring_queue_init(4, &t->ring,
                                  IORING_SETUP_SQE128 |
                                      IORING_SETUP_SINGLE_ISSUER |
                                      IORING_SETUP_COOP_TASKRUN |
                                      IORING_SETUP_TASKRUN_FLAG);
    if (err == -EINVAL)
        err = io_uring_queue_init(4, &t->ring, IORING_SETUP_SQE128);
    if (err < 0) {
        munmap(t->mem, FRONT + t->payload_len);
        t->mem = NULL;
    }
    return err;
}

static bool shutting_down(int err)
{
    return err == -ENOTCONN || err == -ECANCELED || err == -ECONNABORTED;
}

/* Serve ring requests until the stop eventfd, an unmount or an error. */
static void ring_serve(struct ring_thread *t)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);
    io_uring_prep_poll_add(sqe, u.stopfd, POLLIN);
    io_uring_sqe_set_data64(sqe, TAG_STOP);
    struct iovec good = t->iov[1];
    if (t->fault_register) /* test hook: a payload the kernel refuses */
        t->iov[1].iov_len = 0;
    cmd_sqe(t, K_CMD_REGISTER, 0);
    bool served = false; /* a request came since the last registration */
    for (;;) {
        int rc = io_uring_submit_and_wait(&t->ring, 1);
        if (rc < 0 && rc != -EINTR) {
            shmfs_log("io_uring: queue %u: %s", t->qid, strerror(-rc));
            return;
        }
        struct io_uring_cqe *cqe;
        if (io_uring_peek_cqe(&t->ring, &cqe) != 0)
            continue;
        uint64_t tag = io_uring_cqe_get_data64(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&t->ring, cqe);
        if (tag == TAG_STOP || shutting_down(res))
            return; /* stopping, unmounted, or the connection aborted */
        if (res < 0 && !served) {
            /* The registration was refused.  If this queue has no other
             * thread, the kernel gives up the ring and serves /dev/fuse;
             * either way no request is waiting for this thread. */
            shmfs_log("io_uring: queue %u: registration refused (%s)",
                      t->qid, strerror(-res));
            return;
        }
        if (res < 0) {
            /* A commit the kernel refused (no such request: it was ended
             * meanwhile).  The entry is lost to the kernel, but the
             * thread is not: register the buffers anew. */
            shmfs_log("io_uring: queue %u: %s; registering again", t->qid,
                      strerror(-res));
            t->iov[1] = good;
            served = false;
            cmd_sqe(t, K_CMD_REGISTER, 0);
            continue;
        }
        served = true;
        cmd_sqe(t, K_CMD_COMMIT_AND_FETCH, serve(t));
    }
}

static void *ring_main(void *arg)
{
    struct ring_thread *t = arg;
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(t->qid, &cpus);
    /* Best effort: an unpinned thread still serves, only slower. */
    pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
    int err = ring_setup(t);

    pthread_mutex_lock(&u.lock);
    u.nready++;
    if (err < 0 && u.err == 0)
        u.err = err;
    pthread_cond_broadcast(&u.cond);
    while (u.go == 0)
        pthread_cond_wait(&u.cond, &u.lock);
    int go = u.go;
    pthread_mutex_unlock(&u.lock);
    if (err < 0)
        return NULL;
    if (go > 0)
        ring_serve(t);
    atomic_fetch_sub(&u.queue_live[t->qid], 1);
    /* Closing the ring cancels the entry if it is still registered. */
    io_uring_queue_exit(&t->ring);
    munmap(t->mem, FRONT + t->payload_len);
    return NULL;
}

/* Tell the threads waiting for the go what to do: 1 serve, -1 end. */
static void set_go(int go)
{
    pthread_mutex_lock(&u.lock);
    u.go = go;
    pthread_cond_broadcast(&u.cond);
    pthread_mutex_unlock(&u.lock);
}

static void join_threads(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        pthread_join(u.threads[i].tid, NULL);
    free(u.threads);
    u.threads = NULL;
    free(u.queue_live);
    u.queue_live = NULL;
    u.nthreads = 0;
    close(u.stopfd);
    u.stopfd = -1;
}

int uring_prepare(struct fuse_session *se, size_t max_payload)
{
    int ncpu = possible_cpus();
    if (ncpu < 0)
        return ncpu;
    u.se = se;
    u.devfd = fuse_session_fd(se);
    u.nqueues = (unsigned)ncpu;
    /* Fewer per queue on machines with many CPUs (each CPU has fewer
     * callers to serve), so that the daemon stays within
     * URING_MAX_THREADS; at least one per queue, which the kernel needs. */
    unsigned per = URING_THREADS_PER_QUEUE;
    while (per > 1 && u.nqueues * per > URING_MAX_THREADS)
        per /= 2;
    unsigned n = u.nqueues * per;
    u.threads = calloc(n, sizeof(*u.threads));
    u.queue_live = calloc(u.nqueues, sizeof(*u.queue_live));
    if (!u.threads || !u.queue_live) {
        free(u.threads);
        free(u.queue_live);
        u.threads = NULL;
        u.queue_live = NULL;
        return -ENOMEM;
    }
    for (unsigned q = 0; q < u.nqueues; q++)
        atomic_init(&u.queue_live[q], per);
    u.stopfd = eventfd(0, EFD_CLOEXEC);
    if (u.stopfd < 0) {
        int err = -errno;
        join_threads(0);
        return err;
    }
    /* The threads take no signals but faults: SIGTERM is for the session
     * loop, SIGBUS for guard_run(). */
    sigset_t old;
    block_async_signals(&old);
    unsigned created = 0;
    int err = 0;
    u.go = 0;
    u.nready = 0;
    u.err = 0;
    /* Test hook: "register" makes every thread's registration fail,
     * "register-some" all but the first thread's of each queue. */
    const char *fault = getenv("SHMFS_URING_FAULT");
    for (; created < n; created++) {
        struct ring_thread *t = &u.threads[created];
        t->qid = created / per;
        t->fault_register =
            fault && (strcmp(fault, "register") == 0 ||
                      (strcmp(fault, "register-some") == 0 &&
                       created % per != 0));
        t->payload_len = max_payload;
        err = -pthread_create(&t->tid, NULL, ring_main, t);
        if (err < 0)
            break;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_lock(&u.lock);
    while (u.nready < created)
        pthread_cond_wait(&u.cond, &u.lock);
    if (err == 0)
        err = u.err;
    pthread_mutex_unlock(&u.lock);
    if (err < 0) {
        set_go(-1);
        join_threads(created);
        return err;
    }
    u.nthreads = n;
    return 0;
}

void uring_start(bool accepted)
{
    if (u.threads)
        set_go(accepted ? 1 : -1);
}

void uring_stop(void)
{
    if (!u.threads)
        return;
    pthread_mutex_lock(&u.lock);
    if (u.go == 0) /* threads still waiting for the go end now */
        u.go = -1;
    pthread_cond_broadcast(&u.cond);
    pthread_mutex_unlock(&u.lock);
    uint64_t one = 1;
    if (write(u.stopfd, &one, sizeof(one)) != sizeof(one))
        shmfs_log("io_uring: cannot stop the ring threads: %s",
                  strerror(errno));
    join_threads(u.nthreads);
}

/* The kernel sends the requests to the ring: it was accepted, and every
 * queue has a thread (one whose registration was refused has ended; with
 * a queue left without any, the kernel serves /dev/fuse instead). */
/* The threads were made and told to serve. */
static bool ring_on(void)
{
    pthread_mutex_lock(&u.lock);
    bool on = u.threads && u.go == 1;
    pthread_mutex_unlock(&u.lock);
    return on;
}

static bool ring_serving(void)
{
    bool on = ring_on();
    for (unsigned q = 0; on && q < u.nqueues; q++)
        on = atomic_load(&u.queue_live[q]) > 0;
    return on;
}

void uring_serve_dev(struct fuse_session *se)
{
    struct fuse_buf buf = {.mem = NULL};
    const struct timespec batch = {0, FORGET_BATCH_MS * 1000000L};
    while (!fuse_session_exited(se)) {
        int res = fuse_session_receive_buf(se, &buf);
        if (res == -EINTR)
            continue;
        if (res <= 0)
            break;
        uint32_t opcode = 0;
        if (!(buf.flags & FUSE_BUF_IS_FD) && buf.size >= 8)
            memcpy(&opcode, (const unsigned char *)buf.mem + 4, 4);
        fuse_session_process_buf(se, &buf);
        bool forget = opcode == K_OP_FORGET || opcode == K_OP_BATCH_FORGET;
        if (opcode == K_OP_INIT || opcode == K_OP_INTERRUPT)
            continue;
        bool serving = ring_serving();
        if (!forget && !serving)
            break; /* a request the ring should have carried */
        if (forget && serving)
            nanosleep(&batch, NULL); /* a signal cuts it short */
    }
    free(buf.mem);
}

ssize_t uring_describe(char *buf, size_t cap)
{
    unsigned long requests = 0;
    unsigned live = 0;
    if (ring_on()) {
        for (unsigned i = 0; i < u.nthreads; i++)
            requests += atomic_load_explicit(&u.threads[i].requests,
                                             memory_order_relaxed);
        for (unsigned q = 0; q < u.nqueues; q++)
            live += atomic_load(&u.queue_live[q]);
    }
    if (requests == 0)
        return snprintf(buf, cap, "/dev/fuse");
    return snprintf(buf, cap, "io_uring queues=%u threads=%u requests=%lu",
                    u.nqueues, live, requests);
}
