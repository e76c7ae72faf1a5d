#!/usr/bin/python3
"""test_transport.py - how requests reach the daemon (fs/uring.c).

    test_transport.py SHMFS [TEST-NAME-SUBSTRING ...]

With the fuse module's enable_uring on (scripts/setup.sh turns it on; under
CI=true it must be on when the kernel has it), a mount takes its requests
from FUSE io_uring queues, one per possible CPU with four threads each:
user.shmfs.transport on the mount root says "io_uring queues=Q threads=T
requests=N", and N grows with what the test does.  --no-uring, and a
kernel that does not offer io_uring, give "/dev/fuse".  Everything a user
does works the same either way: segments (create, write, read, mmap,
truncate, rename, unlink, errors), a 1 MiB write and read through the
daemon itself (--no-passthrough: the largest payloads a ring entry
carries), a big listing, list folders (cat, echo, EINVAL, EFBIG), xattrs.
SIGTERM and SIGKILL of a daemon serving a ring leave a clean state: the
mount goes away and a new one shows every byte.
"""
import errno
import mmap
import os
import signal
import sys
import unittest.mock

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shmfs_harness as H  # noqa: E402
from shmfs_harness import check, eq, expect_errno  # noqa: E402
from shmfs_harness import ENABLE_URING, transport, uring_setting  # noqa: E402
from shmfs_harness import require_uring  # noqa: E402


def wr(path, data):
    """As the shell's `>`: create or truncate, then one write."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def possible_cpus():
    with open("/sys/devices/system/cpu/possible") as f:
        last = f.read().strip().split(",")[-1]
    return int(last.split("-")[-1]) + 1


class UringSetting:
    """Set enable_uring for the duration of a `with` block."""

    def __init__(self, value):
        self.value = value
        self.old = None

    def __enter__(self):
        self.old = uring_setting()
        if self.old is None:
            raise H.Skip("this kernel has no FUSE io_uring")
        with open(ENABLE_URING, "w") as f:
            f.write(self.value)
        return self

    def __exit__(self, et, ev, tb):
        with open(ENABLE_URING, "w") as f:
            f.write(self.old)


def exercise(m, passthrough=True):
    """What users do, checked against the shm directory.  Without
    passthrough a mapping is a page-cache copy of the segment, so only a
    mount with it checks mappings."""
    name = H.new_name("seg")
    p, sp = m.path(name), m.shm_path(name)
    fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o640)
    try:
        os.ftruncate(fd, 8192)
        os.pwrite(fd, b"through the mount", 100)
        eq(H.read_file(sp)[100:117], b"through the mount",
           "write seen directly")
        if passthrough:
            with mmap.mmap(fd, 8192) as mp:
                mp[0:5] = b"mmap!"
                eq(H.read_file(sp)[0:5], b"mmap!",
                   "mapping write seen directly")
    finally:
        os.close(fd)
    eq(os.stat(p).st_size, 8192, "size")
    eq(oct(os.stat(p).st_mode & 0o777), oct(0o640), "mode")
    wr(sp, b"direct")
    check(H.poll_until(lambda: os.stat(p).st_size == 6, 2)[0],
          "a direct change shows through the mount")
    eq(H.read_file(p), b"direct", "read through the mount")
    os.rename(p, p + ".2")
    check(os.path.exists(sp + ".2") and not os.path.exists(sp), "rename")
    check(name + ".2" in os.listdir(m.mnt), "listing")
    eq(os.getxattr(p + ".2", "user.shmfs.kind"), b"segment", "kind xattr")
    expect_errno({errno.EPERM}, os.mkdir, m.path(H.new_name("d")))
    expect_errno({errno.ENOENT}, os.open, m.path(H.new_name("no")),
                 os.O_RDONLY)
    expect_errno({errno.ENAMETOOLONG}, os.stat, m.path("x" * 300))
    os.unlink(p + ".2")
    check(not os.path.exists(sp + ".2"), "unlink")

    # A listing bigger than one reply.
    names = ["%s_%03d" % (H.new_name("many"), i) for i in range(300)]
    for nm in names:
        wr(m.shm_path(nm), b"x")
    listed = set(os.listdir(m.mnt))
    check(set(names) <= listed, "300 names listed: %d missing"
          % len(set(names) - listed))
    for nm in names:
        os.unlink(m.path(nm))

    # A list folder.
    lname = H.new_name("list")
    H.make_list(m.shm, lname, [7, "ab", 2.5])
    folder = m.path(lname)
    check(H.poll_until(lambda: os.path.isdir(folder), 2)[0], "list folder")
    eq(H.read_file(os.path.join(folder, "0")), b"7\n", "cat 0")
    wr(os.path.join(folder, "0"), b"42\n")
    eq(H.read_file(os.path.join(folder, "0")), b"42\n", "echo 42 > 0")
    expect_errno({errno.EINVAL}, wr, os.path.join(folder, "0"), b"x\n")
    expect_errno({errno.EFBIG}, wr, os.path.join(folder, "1"),
                 b"much too long for the slot\n")
    eq(H.read_file(os.path.join(folder, "1")), b"ab\n", "old value kept")
    eq(os.getxattr(os.path.join(folder, "2"), "user.shmfs.type"), b"float",
       "element type")
    os.unlink(m.shm_path(lname))


def test_uring_serves_requests():
    require_uring()
    with H.Mount() as m:
        kind, f = transport(m)
        eq(kind, "io_uring", "transport with enable_uring=Y")
        eq(f["queues"], possible_cpus(), "one queue per possible CPU")
        eq(f["threads"], 4 * f["queues"], "four threads per queue")
        before = f["requests"]
        exercise(m)
        after = transport(m)[1]["requests"]
        H.note("%d requests served through the ring by the exercise"
               % (after - before))
        check(after - before >= 100, "the ring served only %d requests"
              % (after - before))


def test_uring_large_payloads_without_passthrough():
    """read and write served by the daemon: 1 MiB in one write(2) and one
    read(2) go through ring entries' payload buffers."""
    require_uring()
    with H.Mount(extra_args=["--no-passthrough"]) as m:
        eq(transport(m)[0], "io_uring", "transport")
        data = os.urandom(1 << 20)
        name = H.new_name("big")
        fd = os.open(m.path(name), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            eq(os.write(fd, data), len(data), "one 1 MiB write")
            got = bytearray()
            while len(got) < len(data):
                chunk = os.pread(fd, len(data) - len(got), len(got))
                check(chunk, "short read at %d" % len(got))
                got += chunk
        finally:
            os.close(fd)
        check(bytes(got) == data, "1 MiB read back through the daemon")
        check(H.read_file(m.shm_path(name)) == data,
              "1 MiB in the shm directory")
        exercise(m, passthrough=False)


def test_no_uring_flag():
    with H.Mount(extra_args=["--no-uring"]) as m:
        eq(transport(m), ("/dev/fuse", {}), "transport with --no-uring")
        exercise(m)


def test_kernel_without_uring():
    with UringSetting("N"):
        with H.Mount() as m:
            eq(transport(m), ("/dev/fuse", {}),
               "transport when the kernel does not offer io_uring")
            exercise(m)


def Env(**kw):
    """Set environment variables (inherited by daemons) in a `with`."""
    return unittest.mock.patch.dict(os.environ, kw)


def test_registration_refused():
    """Every ring registration refused (fault hook: a payload buffer the
    kernel rejects): the kernel falls back to /dev/fuse, nothing hangs."""
    require_uring()
    with Env(SHMFS_URING_FAULT="register"), H.Mount() as m:
        eq(transport(m), ("/dev/fuse", {}), "transport")
        exercise(m)
        check("registration refused" in m.log_text(), "the daemon says so")


@H.timeout(120)
def test_registration_refused_serves_dev_fuse_on_several_threads():
    """Without the ring, /dev/fuse is served by several threads again (the
    one thread that takes forgets while the ring serves hands over)."""
    require_uring()
    with Env(SHMFS_URING_FAULT="register"), H.Mount(debug=True) as m:
        n = H.max_in_flight_under_load(m)
        eq(transport(m), ("/dev/fuse", {}), "transport")
        check(n >= 2, "requests served one at a time (max in flight %d)" % n)


def test_forgets_are_taken_in_batches():
    """Forgets reach the daemon (the nodes go), after the first in batches
    (BATCH_FORGET) while the ring serves."""
    require_uring()
    with H.Mount(debug=True) as m:
        for i in range(300):
            H.write_file(m.shm_path("f%d" % i), b"x")
        for i in range(300):
            os.stat(m.path("f%d" % i))
        for i in range(300):
            os.unlink(m.path("f%d" % i))
        ok, _ = H.poll_until(lambda: H.daemon_stats(m.mnt)["nodes"] == 0, 2)
        check(ok, "nodes left after 300 unlinks: %r" % H.daemon_stats(m.mnt))
        log = m.log_text()
        single = log.count("opcode: FORGET ")
        batches = log.count("opcode: BATCH_FORGET ")
        H.note("%d FORGET, %d BATCH_FORGET for 300 unlinks" % (single,
                                                              batches))
        check(batches >= 1 and single + batches < 30,
              "%d FORGET and %d BATCH_FORGET for 300 unlinks" % (single,
                                                                batches))


def test_registration_refused_on_some_threads():
    """All but one thread per queue refused: that one serves the ring."""
    require_uring()
    with Env(SHMFS_URING_FAULT="register-some"), H.Mount() as m:
        # A refusal lets the kernel stop holding requests back for the
        # ring, so the first few may go through /dev/fuse until every
        # queue's one good entry is registered.
        H.poll_until(lambda: transport(m)[0] == "io_uring", 2)
        eq(transport(m)[0], "io_uring", "transport")
        # The refused threads end as their refusals come in.
        def one_per_queue():
            f = transport(m)[1]
            return f["threads"] == f["queues"]
        ok, _ = H.poll_until(one_per_queue, 5)
        f = transport(m)[1]
        check(ok, "threads left serving: %r" % (f,))
        exercise(m)
        check(transport(m)[1]["requests"] > f["requests"],
              "requests served through the ring")


@H.timeout(60)
def test_sigterm_and_sigkill_with_ring():
    require_uring()
    shm = H.new_shm_dir()
    with H.Mount(shm_dir=shm) as m:
        eq(transport(m)[0], "io_uring", "transport")
        wr(m.path("kept"), b"kept across SIGTERM")
        m.kill(signal.SIGTERM)
        eq(m.wait_exit(10), 0, "exit status after SIGTERM")
        m.expect_dead = True
        check(not H.is_mounted(m.mnt), "still mounted after SIGTERM")
    with H.Mount(shm_dir=shm) as m:
        eq(H.read_file(m.path("kept")), b"kept across SIGTERM",
           "after SIGTERM")
        fd = os.open(m.path("kept"), os.O_RDWR)
        mp = mmap.mmap(fd, 0)
        m.kill(signal.SIGKILL)
        m.wait_exit(10)
        m.expect_dead = True
        # The reaper aborts the connection: callers get ENOTCONN at once
        # instead of waiting for a ring nobody serves.
        got, t = H.poll_until(lambda: H.errno_of(os.stat, m.path("kept")) ==
                              errno.ENOTCONN, 10)
        check(got, "stat after SIGKILL: %s, not ENOTCONN"
              % H.errno_of(os.stat, m.path("kept")))
        H.note("ENOTCONN %.0f ms after SIGKILL" % (1000 * t))
        mp[0:4] = b"KEPT"  # a mapping outlives the daemon
        mp.close()
        try:
            os.close(fd)
        except OSError:
            pass
        check(H.force_unmount(m.mnt), "cannot unmount after SIGKILL")
    with H.Mount(shm_dir=shm) as m:
        eq(transport(m)[0], "io_uring", "transport of the new mount")
        eq(H.read_file(m.path("kept")), b"KEPT across SIGTERM",
           "after SIGKILL")
        exercise(m)


if __name__ == "__main__":
    H.run(globals())
