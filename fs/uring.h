/*
 * uring.h - FUSE requests over io_uring (kernel 6.14+, fuse.enable_uring=Y).
 *
 * The kernel then queues each request on the ring queue of the CPU its
 * caller runs on, and shmfs serves every queue with threads pinned to that
 * CPU: request and reply never cross CPUs, which on a virtual machine saves
 * two inter-processor wake-ups per request (though the scheduler often
 * moves the woken caller to an idle CPU, which costs one again).  /dev/fuse
 * stays open for what the kernel still sends there (FORGET, INTERRUPT) and
 * for everything when the ring cannot be set up.  Only the custom-I/O build
 * (compat.c, libfuse < 3.16) can route replies into the ring, so only that
 * build has it.
 */
#ifndef SHMFS_URING_H
#define SHMFS_URING_H

#include "fuse_api.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The INIT reply is about to accept FUSE_OVER_IO_URING: make the rings,
 * buffers (@max_payload bytes each) and threads, which wait for
 * uring_start().  Returns 0, or -errno and leaves nothing behind (the
 * reply must then not accept io_uring). */
int uring_prepare(struct fuse_session *se, size_t max_payload);

/* After the INIT reply was written (@accepted: the kernel took it): the
 * threads register their ring entries, or end. */
void uring_start(bool accepted);

/* From the session's writev hook: when this thread is serving a ring
 * request and @iov is its reply, copy the reply into the ring entry and
 * return its length; otherwise -1 (the caller writes to /dev/fuse). */
ssize_t uring_capture_reply(const struct iovec *iov, int count);

/* Serve /dev/fuse on this one thread while the ring carries the requests.
 * /dev/fuse then carries only FORGETs and INTERRUPTs, and every FORGET the
 * kernel queues wakes a thread reading /dev/fuse, a cross-CPU wake-up paid
 * by the process that sends it (each unlink ends with one).  After a
 * forget this thread lets the next ones gather for 10 ms (they then come
 * in one BATCH_FORGET).  Returns when the session ends, or
 * after a request the ring should have carried came while it is not in use
 * (not accepted, or a queue lost every thread; or the kernel's fallback):
 * the caller then serves /dev/fuse on several threads. */
void uring_serve_dev(struct fuse_session *se);

/* End the threads and close the rings (after the session loop; safe when
 * nothing was started, and more than once). */
void uring_stop(void);

/* user.shmfs.transport: "io_uring queues=Q threads=T requests=N" (T:
 * threads still serving), or "/dev/fuse" when the ring is not in use. */
ssize_t uring_describe(char *buf, size_t cap);

#endif /* SHMFS_URING_H */
