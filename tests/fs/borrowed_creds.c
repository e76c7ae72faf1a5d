/*
 * borrowed_creds.c - open a file with credentials the process no longer has.
 *
 *   borrowed_creds PATH
 *
 * As root: registers the process's credentials with fs uid and gid nobody
 * (which drop the file capabilities) as an io_uring personality, goes back
 * to fs uid and gid 0, and opens PATH read-only through io_uring with that
 * personality.  The kernel then acts as nobody in a thread whose own
 * credentials are root's, as nfsd does for its clients.  Prints "ok" or
 * the errno name of the open.  test_safety.py runs it on a file in the shm
 * directory and on the same file through a root-only mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <unistd.h>

#define NOBODY 65534

int main(int argc, char **argv)
{
    struct io_uring ring;
    if (argc != 2) {
        fprintf(stderr, "usage: borrowed_creds PATH\n");
        return 2;
    }
    int err = io_uring_queue_init(4, &ring, 0);
    if (err < 0) {
        fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-err));
        return 1;
    }
    setfsgid(NOBODY);
    setfsuid(NOBODY);
    int personality = io_uring_register_personality(&ring);
    setfsuid(0);
    setfsgid(0);
    if (personality < 0 || (uid_t)setfsuid((uid_t)-1) != 0) {
        fprintf(stderr, "cannot register the personality: %s\n",
                strerror(-personality));
        return 1;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_openat(sqe, AT_FDCWD, argv[1], O_RDONLY | O_CLOEXEC, 0);
    sqe->personality = (__u16)personality;
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
