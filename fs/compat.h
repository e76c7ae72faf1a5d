/*
 * compat.h - the one place that knows which libfuse this daemon is built
 * against.  FUSE passthrough (the kernel serves read/write/mmap of a FUSE file
 * straight from a registered backing file) has an API from libfuse 3.16 on;
 * on older libfuse (3.14 on Debian 12) compat.c reaches the same kernel
 * feature through a thin custom-I/O layer.  Everything else in fs/ calls
 * these functions and never tests FUSE_VERSION itself.
 */
#ifndef SHMFS_COMPAT_H
#define SHMFS_COMPAT_H

#include "fuse_api.h"

/* After fuse_session_mount(): hook the session's I/O where the layer needs
 * it.  Returns 0 or -errno. */
int compat_session_setup(struct fuse_session *se);

/* From the init op: ask the kernel to leave the clearing of set-ID bits to
 * the daemon (killpriv v2), and for passthrough if @passthrough.  Returns
 * true if passthrough was asked and the kernel offered it (it may still
 * refuse a backing file later: not root). */
bool compat_init(struct fuse_conn_info *conn, bool passthrough);

/* Register @fd as a backing file; returns a backing id (> 0) or -errno
 * (-EPERM without CAP_SYS_ADMIN, -EOPNOTSUPP when not negotiated). */
int compat_backing_open(fuse_req_t req, int fd);

/* Drop a backing id that compat_backing_open() returned. */
void compat_backing_close(fuse_req_t req, int backing_id);

/* fuse_reply_open / fuse_reply_create, with the file served by passthrough
 * from @backing_id when it is > 0. */
int compat_reply_open(fuse_req_t req, struct fuse_file_info *fi,
                      int backing_id);
int compat_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
                        struct fuse_file_info *fi, int backing_id);

#endif /* SHMFS_COMPAT_H */
