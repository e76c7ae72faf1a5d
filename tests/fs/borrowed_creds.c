/*
 * borrowed_creds.c - open a file with credentials the process no longer has.
 *
 *   borrowed_creds [--caps] PATH
 *
 * As root: registers the process's credentials with fs uid and gid nobody
 * (which drop the file capabilities) as an io_uring personality, goes back
 * to fs uid and gid 0, and opens PATH read-only through io_uring with that
 * personality.  The kernel then acts as nobody in a thread whose own
 * credentials are root's, as nfsd does for its clients.  --caps: the
 * personality keeps fs uid 0 but lacks CAP_DAC_OVERRIDE and
 * CAP_DAC_READ_SEARCH, and the open runs in an io_uring worker thread
 * (IOSQE_ASYNC), made with the process's full capabilities.  Prints "ok"
 * or the errno name of the open; exits 77 without io_uring.
 * test_safety.py runs it on a file in the shm directory and on the same
 * file through a root-only mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NOBODY 65534

/* This thread's effective capabilities: read into @old (if not NULL), then
 * set to @set (if not NULL).  Returns 0 or -1. */
static int effective(uint64_t *old, const uint64_t *set)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &h, d) < 0)
        return -1;
    if (old)
        *old = d[0].effective | (uint64_t)d[1].effective << 32;
    if (!set)
        return 0;
    d[0].effective = (uint32_t)*set;
    d[1].effective = (uint32_t)(*set >> 32);
    return (int)syscall(SYS_capset, &h, d);
}

int main(int argc, char **argv)
{
    struct io_uring ring;
    bool caps = argc == 3 && strcmp(argv[1], "--caps") == 0;
    if (argc != 2 + caps) {
        fprintf(stderr, "usage: borrowed_creds [--caps] PATH\n");
        return 2;
    }
    const char *path = argv[argc - 1];
    int err = io_uring_queue_init(4, &ring, 0);
    if (err < 0) {
        fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-err));
        return err == -ENOSYS || err == -EPERM ? 77 : 1;
    }
    int personality;
    uint64_t full = 0, dac = (1u << CAP_DAC_OVERRIDE) |
                            (1u << CAP_DAC_READ_SEARCH);
    if (caps) {
        if (effective(&full, NULL) < 0) {
            perror("capget");
            return 1;
        }
        uint64_t lowered = full & ~dac;
        if (effective(NULL, &lowered) < 0) {
            perror("capset");
            return 1;
        }
        personality = io_uring_register_personality(&ring);
        if (effective(NULL, &full) < 0) {
            perror("capset");
            return 1;
        }
    } else {
        setfsgid(NOBODY);
        setfsuid(NOBODY);
        personality = io_uring_register_personality(&ring);
        setfsuid(0);
        setfsgid(0);
    }
    if (personality < 0) {
        fprintf(stderr, "cannot register the personality: %s\n",
                strerror(-personality));
        return 1;
    }
    if ((uid_t)setfsuid((uid_t)-1) != 0) {
        fprintf(stderr, "the fs uid did not come back to 0\n");
        return 1;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_openat(sqe, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    sqe->personality = (__u16)personality;
    if (caps)
        sqe->flags |= IOSQE_ASYNC;
    struct io_uring_cqe *cqe;
    if ((err = io_uring_submit(&ring)) < 0 ||
        (err = io_uring_wait_cqe(&ring, &cqe)) < 0) {
        fprintf(stderr, "io_uring: %s\n", strerror(-err));
        return 1;
    }
    int res = cqe->res;
    if (res >= 0) {
        close(res);
        printf("ok\n");
    } else {
        printf("%s\n", strerrorname_np(-res) ? strerrorname_np(-res) : "?");
    }
    io_uring_queue_exit(&ring);
    return 0;
}
