/*
 * guard.c - survive segments that shrink or change under the daemon.
 *
 * The daemon reads and writes list elements through a shared mapping (that
 * is how a write stays one atomic 8-byte store, visible to Python at once).
 * If another process truncates the segment meanwhile, touching the lost page
 * raises SIGBUS.  guard_run() runs such an access with a per-thread escape:
 * the SIGBUS handler jumps back and the request fails with EIO.  A SIGBUS
 * anywhere else is a bug and still kills the daemon.
 *
 * The guarded functions only load and store through the mapping and into
 * the caller's buffers (no locks, no allocation while they touch it), so
 * leaving them with siglongjmp is safe.
 */
#include "shmfs.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static __thread sigjmp_buf *escape;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    if (escape)
        siglongjmp(*escape, 1);
    /* Not ours: say where (write(2) is async-signal-safe), then die of
     * it, as without the handler. */
    char msg[128] = "shmfs: SIGBUS outside a guarded access, address 0x";
    size_t len = strlen(msg);
    uintptr_t addr = (uintptr_t)si->si_addr;
    for (int shift = (int)sizeof(addr) * 8 - 4; shift >= 0; shift -= 4)
        msg[len++] = "0123456789abcdef"[(addr >> shift) & 0xf];
    const char *code = si->si_code == BUS_ADRERR ? " (past the end of a file)"
                       : si->si_code == SI_KERNEL ? " (a bad pointer)"
                                                  : "";
    while (*code)
        msg[len++] = *code++;
    msg[len++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, msg, len);
    (void)ignored;
    signal(sig, SIG_DFL);
}

int guard_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGBUS, &sa, NULL) < 0 ? -errno : 0;
}

void block_async_signals(sigset_t *old)
{
    sigset_t set;
    sigfillset(&set);
    sigdelset(&set, SIGBUS);
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGILL);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

int guard_run(int (*fn)(void *), void *arg)
{
    sigjmp_buf here;
    sigjmp_buf *volatile outer = escape;

    /* No mask to save: SA_NODEFER leaves SIGBUS unblocked in the handler,
     * so jumping out of it changes nothing to restore (and saving the mask
     * would cost a syscall on every element read and write). */
    if (sigsetjmp(here, 0)) {
        escape = outer;
        return -EIO;
    }
    escape = &here;
    int rc = fn(arg);
    escape = outer;
    return rc;
}

/* Waits of 50 us doubling to 6.4 ms, about 26 ms in all: enough to outlast
 * a CPython writer descheduled between its two stores, and paid only by a
 * list that is (or looks) damaged. */
#define TRANSIENT_TRIES 10
#define TRANSIENT_WAIT_NS 50000L

bool transient_retry(unsigned attempt)
{
    if (attempt >= TRANSIENT_TRIES)
        return false;
    long ns = TRANSIENT_WAIT_NS << (attempt < 7 ? attempt : 7);
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
    return true;
}

int guard_run_patient(int (*fn)(void *), void *arg)
{
    unsigned attempt = 0;
    int err;
    do
        err = guard_run(fn, arg);
    while (err == -EBADMSG && transient_retry(attempt++));
    return err;
}
