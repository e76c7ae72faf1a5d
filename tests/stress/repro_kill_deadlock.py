#!/usr/bin/python3
"""repro_kill_deadlock.py - a SIGKILLed daemon that cannot die.

    repro_kill_deadlock.py SHMFS

The daemon's inotify thread tells the kernel to drop a name
(fuse_lowlevel_notify_inval_entry on the mount root).  In the kernel that
takes the root directory's inode lock, uninterruptibly.  While a process
renames on the mount (it holds that lock until the daemon answers), the
notification waits for the answer.  If the daemon is SIGKILLed then, its
request threads die, but the notifying thread stays blocked in the
kernel, so the process never finishes exiting, /dev/fuse is never closed,
the connection is never aborted, and the renamer never gets its answer:
the daemon is an unkillable zombie, every process that touches the mount
hangs in D state, and a new mount cannot be made there.  The same wait
stalled a clean stop (SIGTERM) for ever: the watcher thread could not be
joined.  Only
`echo 1 > /sys/fs/fuse/connections/N/abort` (root) frees them.

To hit the window every time, the daemon serves on one thread (-s) and
that thread is held with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT) while
the renamer and the notification line up; tests/stress/stress.py --kill
hit the same window at random (2 runs in 15).  The test fails when the
SIGKILLed daemon has not exited within 5 s; it then aborts the connection
itself so that nothing stays stuck.  Fixed by fs/reaper.c (2a11574); kept
as a regression test (it fails where ptrace is not allowed).

The same line-up with FUSE over io_uring (test_sigkill_while_a_rename_waits
_on_the_ring: the ring threads are held instead) hung even after the
abort: the rename's request had been handed to a ring entry as deferred
task work (IORING_SETUP_DEFER_TASKRUN) of a ring thread that then died,
and such work runs only when the ring closes, which the stuck watcher
prevented; the kernel's abort leaves entries in that state alone (dmesg
"fuse: ent-req-queue ... state=3" every 50 ms).  stress_kill hit it once
in a CI run.  Fixed in fs/uring.c (COOP_TASKRUN instead); on the previous
binary this case fails, and the renamer and the daemon stay stuck until
the machine reboots: nothing in user space can free them.
"""
import ctypes
import os
import signal
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fs"))
import shmfs_harness as H  # noqa: E402

libc = ctypes.CDLL(None, use_errno=True)
PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207
WALL = 0x40000000


def ptrace(req, tid):
    if libc.ptrace(req, tid, None, None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def ring_threads(m):
    """The daemon's ring threads once every one waits for a request: the
    threads the kernel shows waiting in io_uring_enter."""
    want = H.transport(m)[1]["threads"]
    waiting = []

    def all_wait():
        waiting[:] = [int(t) for t in os.listdir("/proc/%d/task" % m.pid)
                      if "io_cqring_wait" in H.kernel_stack(m.pid, t)]
        return len(waiting) == want
    ok, _ = H.poll_until(all_wait, 5)
    H.check(ok, "%d ring threads, %d waiting: %s" % (
        want, len(waiting), "; ".join(H.thread_stacks(m.pid))))
    return waiting


def _line_up(m):
    """Fork a renamer that waits for the (held) daemon with the root's lock,
    then make the watcher wait for that lock; returns the renamer's pid."""
    renamer = os.fork()
    if renamer == 0:            # holds the root's lock until answered
        # A renamer that never gets its answer must not hold the test's
        # output open (meson would wait for it).
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        try:
            os.rename(m.path("a"), m.path("b"))
        finally:
            os._exit(0)
    ok, _ = H.poll_until(lambda: "request_wait_answer" in
                         H.kernel_stack(renamer), 5)
    H.check(ok, "the rename is not waiting for the daemon: %s"
            % H.kernel_stack(renamer))
    os.unlink(m.shm_path("x"))  # inotify: the daemon drops the entry "x"
    ok, _ = H.poll_until(lambda: any("fuse_reverse_inval_entry" in l
                                     for l in H.thread_stacks(m.pid)), 5)
    H.check(ok, "the watcher does not wait for the root's lock")
    return renamer


def _stop_while_a_rename_waits(m, sig, held=None):
    """Line up a rename on the mount (holding the root's lock, unanswered)
    and the watcher's entry invalidation (waiting for that lock), send
    @sig to the daemon, and return its exit code within 5 s (None: it did
    not exit; the connection is then aborted so that nothing stays
    stuck).  @held: the threads that serve requests (default: the main
    thread, with -s)."""
    H.write_file(m.shm_path("x"), b"x")
    os.close(os.open(m.path("a"), os.O_CREAT | os.O_RDWR, 0o600))
    os.stat(m.path("x"))
    conn = H.fuse_connection(m.mnt)
    held = held or [m.pid]  # the daemon's only request thread with -s
    for tid in held:
        ptrace(PTRACE_SEIZE, tid)
        ptrace(PTRACE_INTERRUPT, tid)
        os.waitpid(tid, WALL)
    m.expect_dead = True
    try:
        renamer = _line_up(m)
        H.note("before %s: %s" % (signal.Signals(sig).name,
                                   "; ".join(H.thread_stacks(m.pid))))
        os.kill(m.pid, sig)
    except BaseException:
        os.kill(m.pid, signal.SIGKILL)  # nothing may stay held
        raise
    finally:
        for tid in held:
            if tid != m.pid:        # a killed thread waits for its tracer
                os.waitpid(tid, WALL)
                continue
            try:
                ptrace(PTRACE_DETACH, tid)
            except OSError:
                pass
    code = m.wait_exit(5)
    if code is None:
        H.note("5 s after %s: %s" % (signal.Signals(sig).name,
                                      "; ".join(H.thread_stacks(m.pid))))
        H.abort_fuse_connection(conn)
        H.note("aborted %s: the daemon exited %s" % (
            conn, "at once" if m.wait_exit(5) is not None else "not even "
            "then"))
    got, _ = H.poll_until(lambda: os.waitpid(renamer, os.WNOHANG)[0] != 0,
                          5)
    H.check(got, "the renamer (pid %d) is still waiting for its answer, "
            "stuck for good: %s" % (renamer, H.kernel_stack(renamer)))
    return code


@H.mount_with(extra_args=["-s"])
def test_sigkill_while_a_rename_waits(m):
    """The reaper aborts the connection: the daemon can finish dying."""
    code = _stop_while_a_rename_waits(m, signal.SIGKILL)
    H.check(code is not None, "the SIGKILLed daemon did not exit within 5 s")


@H.mount_with()
def test_sigkill_while_a_rename_waits_on_the_ring(m):
    """The same with FUSE over io_uring: the rename's request goes to a
    ring entry whose thread is held, then killed."""
    H.require_uring()
    H.eq(H.transport(m)[0], "io_uring", "transport")
    code = _stop_while_a_rename_waits(m, signal.SIGKILL, ring_threads(m))
    H.check(code is not None, "the SIGKILLed daemon did not exit within 5 s")


@H.mount_with(extra_args=["-s"])
def test_sigterm_while_a_rename_waits(m):
    """A clean stop whose watcher is stuck behind the unanswered rename
    aborts the connection itself (after 2 s), unmounts and exits 0."""
    code = _stop_while_a_rename_waits(m, signal.SIGTERM)
    H.eq(code, 0, "exit status 5 s after SIGTERM")
    H.check("aborting the connection" in m.log_text(),
            "the daemon says why it aborted")


if __name__ == "__main__":
    H.run(globals())
