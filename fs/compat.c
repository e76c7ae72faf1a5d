/*
 * compat.c - FUSE passthrough on any libfuse this project builds with.
 *
 * libfuse >= 3.16 has the API (fuse_passthrough_open(), fi->backing_id,
 * conn->max_stack_depth).  Older libfuse (3.14 on Debian 12) does not, but
 * the kernel feature is the same, so on those this file talks to the kernel
 * itself through fuse_session_custom_io():
 *  - INIT: the read hook notes the INIT request and whether the kernel
 *    offers FUSE_PASSTHROUGH; the writev hook patches the INIT reply to
 *    accept it (FUSE_INIT_EXT, flags2 bit, max_stack_depth = 1).
 *  - Backing files are registered with the FUSE_DEV_IOC_BACKING_OPEN ioctl
 *    on the session fd (needs CAP_SYS_ADMIN).
 *  - Open/create replies: compat_reply_open() sends the reply from the
 *    calling thread, so a thread-local variable tells the writev hook to
 *    set FOPEN_PASSTHROUGH and the backing id in the fuse_open_out that
 *    ends the reply.
 *  - io_uring: when the kernel offers FUSE_OVER_IO_URING, the INIT reply
 *    accepts it once uring.c has its rings and threads ready, and the
 *    writev hook hands the replies to requests that came through a ring
 *    back to uring.c.  (libfuse >= 3.18 has its own io_uring support;
 *    builds on libfuse 3.16/3.17 serve /dev/fuse only.)
 * Both also accept FUSE_HANDLE_KILLPRIV_V2 when the kernel offers it: the
 * kernel then stops asking for security.capability before every write
 * (one round trip per write(2)), and leaves clearing set-user-ID bits to
 * the daemon (segfile.c).
 * Offsets are the kernel's ABI (include/uapi/linux/fuse.h, 7.40).
 */
#include "compat.h"
#include "kabi.h"
#include "shmfs.h"
#include "uring.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#if FUSE_VERSION >= FUSE_MAKE_VERSION(3, 16)

int compat_session_setup(struct fuse_session *se)
{
    (void)se;
    shmfs.no_uring = true; /* replies cannot be routed to a ring (uring.h) */
    return 0;
}

bool compat_init(struct fuse_conn_info *conn, bool passthrough)
{
#ifdef FUSE_CAP_HANDLE_KILLPRIV_V2
    if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV_V2)
        conn->want |= FUSE_CAP_HANDLE_KILLPRIV_V2;
#endif
    if (!passthrough || !(conn->capable & FUSE_CAP_PASSTHROUGH))
        return false;
    conn->want |= FUSE_CAP_PASSTHROUGH;
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    conn->max_stack_depth = 1;
    return true;
}

int compat_backing_open(fuse_req_t req, int fd)
{
    int id = fuse_passthrough_open(req, fd);
    return id > 0 ? id : -(errno ? errno : EOPNOTSUPP);
}

void compat_backing_close(fuse_req_t req, int backing_id)
{
    fuse_passthrough_close(req, backing_id);
}

int compat_reply_open(fuse_req_t req, struct fuse_file_info *fi,
                      int backing_id)
{
    if (backing_id > 0)
        fi->backing_id = backing_id;
    return fuse_reply_open(req, fi);
}

int compat_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
                        struct fuse_file_info *fi, int backing_id)
{
    if (backing_id > 0)
        fi->backing_id = backing_id;
    return fuse_reply_create(req, e, fi);
}

#else /* libfuse < 3.16: talk to the kernel directly */

/* Kernel ABI pieces libfuse 3.14's headers predate. */
#define K_FUSE_INIT_EXT (1u << 30)
#define K_FUSE_HANDLE_KILLPRIV_V2 (1u << 28)
#define K_FUSE_PASSTHROUGH_FLAGS2 (1u << 5) /* 1ULL << 37 */
#define K_FUSE_OVER_IO_URING_FLAGS2 (1u << 9) /* 1ULL << 41 */
#define K_FUSE_MIN_READ_BUFFER 8192
#define K_FOPEN_PASSTHROUGH (1u << 7)
#define K_INIT_IN_FLAGS 12   /* struct fuse_init_in: flags, flags2 */
#define K_INIT_IN_FLAGS2 16
#define K_INIT_OUT_FLAGS 12  /* struct fuse_init_out */
#define K_INIT_OUT_MAX_WRITE 20
#define K_INIT_OUT_MAX_PAGES 28 /* uint16_t */
#define K_INIT_OUT_FLAGS2 32
#define K_INIT_OUT_STACK_DEPTH 36
#define K_INIT_OUT_MIN_LEN 40
#define K_OPEN_OUT_LEN 16    /* struct fuse_open_out: fh, open_flags, backing_id */

struct k_backing_map {
    int32_t fd;
    uint32_t flags;
    uint64_t padding;
};
#define K_FUSE_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct k_backing_map)
#define K_FUSE_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

static struct fuse_session *session;
static _Atomic uint64_t init_unique;
static atomic_bool kernel_offers;
static atomic_bool killpriv_offered;
static atomic_bool uring_offered;
static atomic_bool accepted;
/* Set by compat_reply_*() around the reply it sends from this thread. */
static __thread int reply_backing_id;

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

static ssize_t hook_read(int fd, void *buf, size_t len, void *userdata)
{
    (void)userdata;
    ssize_t n = read(fd, buf, len);
    const unsigned char *p = buf;
    if (n >= K_IN_HEADER_LEN + K_INIT_IN_FLAGS2 + 4 &&
        get_u32(p + 4) == K_OP_INIT) {
        uint64_t unique;
        memcpy(&unique, p + 8, sizeof(unique));
        const unsigned char *in = p + K_IN_HEADER_LEN;
        uint32_t flags = get_u32(in + K_INIT_IN_FLAGS);
        bool ext = flags & K_FUSE_INIT_EXT;
        uint32_t flags2 = ext ? get_u32(in + K_INIT_IN_FLAGS2) : 0;
        killpriv_offered = flags & K_FUSE_HANDLE_KILLPRIV_V2;
        kernel_offers = flags2 & K_FUSE_PASSTHROUGH_FLAGS2;
        uring_offered = flags2 & K_FUSE_OVER_IO_URING_FLAGS2;
        init_unique = unique;
    }
    return n;
}

/* Set @bits in the u32 field at @p. */
static void or_u32(unsigned char *p, uint32_t bits)
{
    put_u32(p, get_u32(p) | bits);
}

static void add_flags2(unsigned char *p, uint32_t bits)
{
    or_u32(p + K_INIT_OUT_FLAGS, K_FUSE_INIT_EXT);
    or_u32(p + K_INIT_OUT_FLAGS2, bits);
}

/* The largest request payload the kernel will put in a ring entry, for
 * this INIT reply: as fs/fuse/dev_uring.c sizes it, with the kernel's
 * default page count when the reply sets none. */
static size_t uring_payload(const unsigned char *p)
{
    uint16_t pages;
    memcpy(&pages, p + K_INIT_OUT_MAX_PAGES, sizeof(pages));
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t n = (size_t)(pages > 32 ? pages : 32) * page;
    size_t max_write = get_u32(p + K_INIT_OUT_MAX_WRITE);
    if (n < max_write)
        n = max_write;
    return n < K_FUSE_MIN_READ_BUFFER ? K_FUSE_MIN_READ_BUFFER : n;
}

/* Accept killpriv v2, passthrough and io_uring in the INIT reply (payload
 * @p, @len bytes).  Returns whether io_uring was accepted: uring.c's
 * threads then wait for the reply to be written. */
static bool patch_init(unsigned char *p, size_t len)
{
    if (len < K_INIT_OUT_MIN_LEN)
        return false;
    if (killpriv_offered)
        or_u32(p + K_INIT_OUT_FLAGS, K_FUSE_HANDLE_KILLPRIV_V2);
    if (kernel_offers && accepted) {
        add_flags2(p, K_FUSE_PASSTHROUGH_FLAGS2);
        put_u32(p + K_INIT_OUT_STACK_DEPTH, 1);
    }
    if (!uring_offered || shmfs.no_uring)
        return false;
    int err = uring_prepare(session, uring_payload(p));
    if (err < 0) {
        shmfs_log("cannot set up io_uring (%s): requests go through "
                  "/dev/fuse",
                  strerror(-err));
        return false;
    }
    add_flags2(p, K_FUSE_OVER_IO_URING_FLAGS2);
    return true;
}

static ssize_t hook_writev(int fd, struct iovec *iov, int count,
                           void *userdata)
{
    (void)userdata;
    if (count >= 2 && iov[0].iov_len == K_OUT_HEADER_LEN) {
        const unsigned char *h = iov[0].iov_base;
        int32_t error;
        uint64_t unique;
        memcpy(&error, h + 4, sizeof(error));
        memcpy(&unique, h + 8, sizeof(unique));
        struct iovec *last = &iov[count - 1];
        if (error == 0 && unique != 0 && unique == init_unique) {
            bool uring = patch_init(iov[1].iov_base, iov[1].iov_len);
            ssize_t n = writev(fd, iov, count);
            if (uring)
                uring_start(n >= 0);
            return n;
        }
        if (error == 0 && reply_backing_id > 0 &&
            last->iov_len >= K_OPEN_OUT_LEN) {
            unsigned char *open_out =
                (unsigned char *)last->iov_base + last->iov_len -
                K_OPEN_OUT_LEN;
            or_u32(open_out + 8, K_FOPEN_PASSTHROUGH);
            put_u32(open_out + 12, (uint32_t)reply_backing_id);
        }
    }
    ssize_t n = uring_capture_reply(iov, count);
    return n >= 0 ? n : writev(fd, iov, count);
}

int compat_session_setup(struct fuse_session *se)
{
    static const struct fuse_custom_io io = {
        .read = hook_read,
        .writev = hook_writev,
    };
    session = se;
    /* Same fd as fuse_session_mount() opened; only its I/O is wrapped. */
    if (fuse_session_custom_io(se, &io, fuse_session_fd(se)) != 0)
        return -EIO;
    return 0;
}

bool compat_init(struct fuse_conn_info *conn, bool passthrough)
{
    /* (killpriv v2: patch_init() takes it whenever the kernel offers it) */
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    accepted = passthrough && kernel_offers;
    return accepted;
}

int compat_backing_open(fuse_req_t req, int fd)
{
    (void)req;
    if (!accepted)
        return -EOPNOTSUPP;
    struct k_backing_map map = {.fd = fd};
    int id = ioctl(fuse_session_fd(session), K_FUSE_DEV_IOC_BACKING_OPEN,
                   &map);
    return id > 0 ? id : -(id < 0 ? errno : EIO);
}

void compat_backing_close(fuse_req_t req, int backing_id)
{
    (void)req;
    uint32_t id = (uint32_t)backing_id;
    ioctl(fuse_session_fd(session), K_FUSE_DEV_IOC_BACKING_CLOSE, &id);
}

int compat_reply_open(fuse_req_t req, struct fuse_file_info *fi,
                      int backing_id)
{
    reply_backing_id = backing_id;
    int rc = fuse_reply_open(req, fi);
    reply_backing_id = 0;
    return rc;
}

int compat_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
                        struct fuse_file_info *fi, int backing_id)
{
    reply_backing_id = backing_id;
    int rc = fuse_reply_create(req, e, fi);
    reply_backing_id = 0;
    return rc;
}

#endif
