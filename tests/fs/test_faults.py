#!/usr/bin/python3
"""test_faults.py - issue 5, "Faults" (SIGKILL of the daemon in the middle
of a stress run lives in tests/stress).

    test_faults.py SHMFS [TEST-NAME-SUBSTRING ...]

A full tmpfs as the shm directory (no blocks left, or no inodes left):
writes and creates fail with ENOSPC and nothing else; everything else (ls,
stat, read, cat of elements, element writes into pages the list already
has, rename, unlink, chmod, xattrs) keeps working; failed creates and
writes cost the daemon nothing; and once there is space again (a file
removed, or the tmpfs remounted bigger) creates and writes work again
with every byte intact.  Also with several writers hitting ENOSPC at once
while others read, for a list whose pages tmpfs has not all allocated
yet, and for shmfsctl list new (libshmseg creating a list).

A process that dies (SIGKILL, or exit without closing anything) while it
holds open segment files, shared mappings, a list's .raw mapped, open
element files (one with a write in progress), list folders and the top
level open, and its cwd in a folder, leaves nothing in the daemon: its fd
count and user.shmfs.stats (nodes, handles, open files, backing ids, list
maps) return to where they were, everything stays usable, and the mount
unmounts cleanly.  The same for a process killed while four threads keep
requests in flight.  A mapping another process keeps of the same segment
keeps working, and keeps its node only as long as it lives.

"Baseline" means after `echo 2 > /proc/sys/vm/drop_caches` (the kernel
then FORGETs every node nothing holds) and the 2 s idle sweep of list maps.

SIGTERM while several processes keep opens in flight: the daemon unmounts
and exits 0, and nothing is lost in the shm directory.
"""
import errno
import json
import mmap
import os
import random
import signal
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shmfs_harness as H  # noqa: E402
from shmfs_harness import check, eq, expect_errno  # noqa: E402

# ---------------------------------------------------------------------------
# What the daemon holds: its fds, and user.shmfs.stats on the mount root


def stats(m):
    """user.shmfs.stats of the mount as a dict of ints."""
    try:
        raw = os.getxattr(m.mnt, H.STATS_ATTR)
    except OSError as e:
        raise H.TestFailure("getxattr %s %s: %s" % (m.mnt, H.STATS_ATTR,
                                                     H.ename(e.errno)))
    out = H.parse_stats(raw)
    check(all(k in out for k in H.STATS_KEYS), "%s is %r: want the keys %s" % (
        H.STATS_ATTR, raw, ", ".join(H.STATS_KEYS)))
    return out


def drop_caches():
    """Evict unused dentries and inodes: the kernel then sends FORGET for
    every node of the mount that nothing holds."""
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")


def daemon_fds(m):
    """The daemon's open fds: {fd: target}."""
    out = {}
    d = "/proc/%d/fd" % m.pid
    for fd in os.listdir(d):
        try:
            out[int(fd)] = os.readlink(os.path.join(d, fd))
        except OSError:
            pass
    return out


def state(m):
    """(daemon fd count, stats)."""
    return H.fd_count(m.pid), stats(m)


def settled(m, timeout=6.0):
    """The daemon's state once nothing is in use: caches dropped, idle list
    maps swept, and two looks in a row the same.  Returns (fds, stats)."""
    prev = [None]

    def stable():
        drop_caches()
        cur = state(m)
        same = cur == prev[0]
        prev[0] = cur
        return cur if same and cur[1]["list_maps"] == 0 else None
    v, _ = H.poll_until(stable, timeout, 0.2)
    check(v, "the daemon did not settle within %.0f s: %s" % (timeout,
                                                               prev[0]))
    return v


def back_to(m, want, what, timeout=8.0, want_fds=None):
    """Poll (dropping caches) until the daemon's fd count and stats equal
    @want (a (fds, stats) pair); fail with what is left otherwise.  Returns
    the seconds it took."""
    fds = {} if want_fds is None else want_fds

    def same():
        drop_caches()
        return state(m) == want
    ok, t = H.poll_until(same, timeout, 0.2)
    if not ok:
        now = state(m)
        extra = sorted(set(daemon_fds(m).values()) - set(fds.values()))
        raise H.TestFailure(
            "%s: the daemon did not return to its baseline within %.0f s: "
            "fds %d -> %d, stats %s -> %s%s" % (
                what, timeout, want[0], now[0], fmt_stats(want[1]),
                fmt_stats(now[1]),
                "; fds not in the baseline: %s" % ", ".join(extra[:10])
                if want_fds is not None and extra else ""))
    return t


def fmt_stats(s):
    return " ".join("%s=%d" % (k, s[k]) for k in H.STATS_KEYS)


# ---------------------------------------------------------------------------
# Small tmpfs


def remount_tmpfs(path, opts):
    r = subprocess.run(["mount", "-o", "remount," + opts, path],
                       capture_output=True, text=True)
    eq(r.returncode, 0, "mount -o remount,%s %s (%s)" % (opts, path,
                                                         r.stderr.strip()))


def fill(m, name, chunk=65536, limit=64 << 20):
    """Create name through the mount and write until the tmpfs is full.
    Returns (bytes written, errno that stopped it or None)."""
    fd = os.open(m.path(name), os.O_CREAT | os.O_WRONLY, 0o600)
    total, err = 0, None
    try:
        while total < limit:
            total += os.write(fd, b"z" * chunk)
    except OSError as e:
        err = e.errno
    finally:
        os.close(fd)
    # the last pages a big write could not take
    if err == errno.ENOSPC:
        fd = os.open(m.path(name), os.O_WRONLY | os.O_APPEND)
        try:
            while True:
                total += os.write(fd, b"z" * 512)
        except OSError as e:
            check(e.errno == errno.ENOSPC, "small writes after ENOSPC: %s" %
                  H.ename(e.errno))
        finally:
            os.close(fd)
    return total, err


def create(path, flags=os.O_WRONLY, mode=0o600):
    os.close(os.open(path, os.O_CREAT | flags, mode))


def write_elem(path, data):
    """Like the shell's `echo > path`: open(O_WRONLY|O_TRUNC), one write,
    close.  Returns None, or (step, errno name) of the first failure."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    except OSError as e:
        return ("open", H.ename(e.errno))
    err = None
    try:
        n = os.write(fd, data)
        if n != len(data):
            err = ("short write %d/%d" % (n, len(data)), None)
    except OSError as e:
        err = ("write", H.ename(e.errno))
    try:
        os.close(fd)
    except OSError as e:
        err = err or ("close", H.ename(e.errno))
    return err


def snapshot(shm):
    """Every file of the shm dir: name -> (bytes, mode)."""
    out = {}
    for n in os.listdir(shm):
        p = os.path.join(shm, n)
        out[n] = (H.read_file(p), stat.S_IMODE(os.stat(p).st_mode))
    return out


# A list whose element files are read and written while the tmpfs is full
LIST_VALUES = [7, "seven", 2.5, b"bytes", True, None, 123456789, "x" * 40]


def elem_texts(m, name, values):
    return {i: H.read_file(m.path(name, str(i))) for i in range(len(values))}


def check_intact(m, segs, path):
    """Every segment of segs ({name: bytes}) read at path(name), and list
    L's elements, hold what they held before the tmpfs filled up."""
    for n, data in segs.items():
        eq(H.read_file(path(n)), data, n + " intact")
    eq(elem_texts(m, "L", LIST_VALUES),
       {i: H.elem_text(v) for i, v in enumerate(LIST_VALUES)},
       "elements of L intact")


def still_serves(m, segs, lists, what):
    """Everything but writing new data works on the full tmpfs.  segs:
    {name: bytes}, lists: {name: values}; a segment "victim" is unlinked
    and "chmodme" chmod'ed, "mover" renamed there and back."""
    eq(sorted(os.listdir(m.mnt)), sorted(os.listdir(m.shm)),
       what + ": ls of the mount")
    for n, data in segs.items():
        st, real = os.stat(m.path(n)), os.stat(m.shm_path(n))
        eq((st.st_size, st.st_mode), (real.st_size, real.st_mode),
           what + ": stat of " + n)
        eq(H.read_file(m.path(n)), data, what + ": read of " + n)
        eq(os.getxattr(m.path(n), "user.shmfs.kind"), b"segment",
           what + ": kind xattr of " + n)
    for n, values in lists.items():
        check(os.path.isdir(m.path(n)), what + ": %s is a folder" % n)
        eq(sorted(os.listdir(m.path(n))),
           sorted([".raw"] + [str(i) for i in range(len(values))]),
           what + ": ls of list " + n)
        for i, v in enumerate(values):
            eq(H.read_file(m.path(n, str(i))), H.elem_text(v),
               what + ": cat %s/%d" % (n, i))
        eq(os.getxattr(m.path(n, "0"), "user.shmfs.type"),
           type(values[0]).__name__.encode(), what + ": type xattr")
        check(os.getxattr(m.path(n), "user.shmfs.format"),
              what + ": format xattr")
        eq(H.read_file(m.path(n, ".raw")), H.read_file(m.shm_path(n)),
           what + ": .raw of " + n)
    stats(m)
    os.rename(m.path("mover"), m.path("mover2"))
    check(os.path.exists(m.shm_path("mover2")), what + ": rename")
    os.rename(m.path("mover2"), m.path("mover"))
    os.chmod(m.path("chmodme"), 0o640)
    eq(stat.S_IMODE(os.stat(m.shm_path("chmodme")).st_mode), 0o640,
       what + ": chmod")
    os.chmod(m.path("chmodme"), 0o600)
    os.utime(m.path("chmodme"), (1, 1))
    eq(int(os.stat(m.shm_path("chmodme")).st_mtime), 1, what + ": utime")
    os.unlink(m.path("victim"))
    check(not os.path.exists(m.shm_path("victim")), what + ": unlink")
    r = H.sh("ls -l %s >/dev/null && cat %s/* >/dev/null" % (
        m.mnt, m.path(next(iter(lists)))))
    eq(r.returncode, 0, what + ": ls -l and cat * (%r)" % r.stderr)
    check(m.alive(), what + ": daemon alive")


def fixtures(m):
    """Segments and a list, written directly (every page allocated)."""
    segs = {"keep": bytes(range(256)) * 32, "mover": b"m" * 100,
            "chmodme": b"c" * 10, "empty": b""}
    for n, data in segs.items():
        H.write_file(m.shm_path(n), data)
    H.write_file(m.shm_path("victim"), b"")       # unlinking frees no block
    H.make_list(m.shm, "L", LIST_VALUES)
    ok, _ = H.poll_until(lambda: os.path.isdir(m.path("L")), 2)
    check(ok, "list L is not shown as a folder")
    return segs, {"L": LIST_VALUES}


# ---------------------------------------------------------------------------
# Full tmpfs: no inodes left


@H.timeout(90)
def test_no_inodes_left_create_is_enospc_and_recovers():
    fs = H.mount_tmpfs("8m")
    try:
        with H.Mount(shm_dir=fs) as m:
            segs, lists = fixtures(m)
            remount_tmpfs(fs, "nr_inodes=%d" % (len(os.listdir(fs)) + 6))
            made, err = 0, None
            while err is None and made < 1000:
                err = H.errno_of(create, m.path("f%d" % made))
                made += err is None
            H.note("%d creates through the mount, then %s" % (
                made, H.ename(err) if err else "no error"))
            eq(err, errno.ENOSPC, "create on a tmpfs out of inodes")
            check(made > 0, "no create worked before the inodes ran out")
            before = snapshot(fs)

            # every way of creating fails with ENOSPC, and costs nothing
            base = settled(m)
            base_fds = daemon_fds(m)
            t0 = time.monotonic()
            flags = (os.O_WRONLY, os.O_RDWR | os.O_EXCL, os.O_RDWR |
                     os.O_TRUNC, os.O_RDONLY)
            for i in range(1000):
                expect_errno(errno.ENOSPC, create, m.path("n%d" % (i % 97)),
                             flags[i % len(flags)],
                             what="create %d on a full tmpfs" % i)
            dt = time.monotonic() - t0
            r = H.sh("echo hi > %s" % m.path("shell"))
            check(r.returncode != 0 and b"No space left" in r.stderr,
                  "echo > new file on a full tmpfs: $?=%d %r" % (
                      r.returncode, r.stderr))
            check(m.alive(), "daemon alive after 1000 failed creates")
            t = back_to(m, base, "after 1000 failed creates",
                        want_fds=base_fds)
            H.note("1000 failed creates in %.2f s; daemon back to %s "
                   "(%d fds) after %.1f s" % (dt, fmt_stats(base[1]),
                                              base[0], t))
            eq(snapshot(fs), before, "shm dir after the failed creates")

            # O_CREAT of a name that exists needs no inode
            fd = os.open(m.path("keep"), os.O_CREAT | os.O_RDWR, 0o600)
            eq(os.pread(fd, 16, 0), segs["keep"][:16], "O_CREAT of keep")
            os.close(fd)
            # writes into existing files need no inode
            fd = os.open(m.path("f0"), os.O_WRONLY)
            eq(os.write(fd, b"data in f0"), 10, "write to f0 out of inodes")
            os.close(fd)
            eq(write_elem(m.path("L", "0"), b"42\n"), None, "echo 42 > L/0")
            eq(H.read_file(m.path("L", "0")), b"42\n", "L/0 after the write")
            eq(write_elem(m.path("L", "0"), b"7\n"), None, "echo 7 > L/0")
            still_serves(m, segs, lists, "out of inodes")

            # space comes back: unlink one file (victim went above)
            create(m.path("again1"))
            expect_errno(errno.ENOSPC, create, m.path("again2"),
                         what="create once the freed inode is used")
            # ... or a bigger tmpfs
            remount_tmpfs(fs, "nr_inodes=%d" % (len(os.listdir(fs)) + 64))
            for i in range(20):
                H.write_file(m.path("new%d" % i), b"new %d" % i)
            for i in range(20):
                eq(H.read_file(m.shm_path("new%d" % i)), b"new %d" % i,
                   "new%d after the remount" % i)
            eq(H.read_file(m.path("f0")), b"data in f0", "f0")
            check_intact(m, segs, m.shm_path)
    finally:
        H.umount_tmpfs(fs)


# ---------------------------------------------------------------------------
# Full tmpfs: no blocks left


# A list with a hole: pages 1-3 (all zero bytes of its two 8200-byte
# bytes elements) never written, as when a program sizes a segment and
# writes only part of it.
HOLE_VALUES = [b"\0" * 8192, b"\0" * 8192, 5]
HOLE = (4096, 16384)


def make_holey_list(path):
    data, _ = H.cpython_list_bytes(HOLE_VALUES)
    eq(data[HOLE[0]:HOLE[1]], bytes(HOLE[1] - HOLE[0]), "the hole is zeros")
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.pwrite(fd, data[:HOLE[0]], 0)
        os.pwrite(fd, data[HOLE[1]:], HOLE[1])
    finally:
        os.close(fd)
    eq(os.stat(path).st_blocks * 512, 2 * 4096,
       "bytes allocated to the holey list (first and last page)")


CHILD_MAP_WRITE = r"""
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
mm = mmap.mmap(fd, os.fstat(fd).st_size)
mm[8192:8197] = b"child"
print("stored", flush=True)
"""


def map_write_in_child(path):
    """A child maps path and stores into a page not yet allocated; returns
    how it ended ("ok" or the signal's name)."""
    r = subprocess.run([sys.executable, "-c", CHILD_MAP_WRITE, path],
                       capture_output=True, text=True, timeout=30)
    if r.returncode < 0:
        return signal.Signals(-r.returncode).name
    return "ok" if r.stdout.strip() == "stored" else "exit %d: %s" % (
        r.returncode, r.stderr.strip()[-300:])


def _no_blocks_left(m, passthrough):
    segs, lists = fixtures(m)
    total, err = fill(m, "fill")
    H.note("wrote %d bytes, then %s" % (total, H.ename(err) if err else
                                        "no error"))
    eq(err, errno.ENOSPC, "filling the tmpfs")
    chunk = b"w" * 4096

    # a new file: the create needs no block, its first write does
    e = H.errno_of(create, m.path("more"))
    H.note("create on a tmpfs out of blocks: %s" % (H.ename(e) if e
                                                     else "ok"))
    check(e in (None, errno.ENOSPC), "create: %s" % H.ename(e or 0))
    if e is None:
        fd = os.open(m.path("more"), os.O_WRONLY)
        expect_errno(errno.ENOSPC, os.write, fd, chunk,
                     what="first write to a new file")
        os.close(fd)

    # element writes store into the pages the list already has
    for i, text in ((0, b"42\n"), (1, b"eight\n"), (2, b"-1.5\n"),
                    (3, b"BYTES"), (4, b"False\n"), (6, b"-7\n")):
        eq(write_elem(m.path("L", str(i)), text), None,
           "element L/%d on a full tmpfs" % i)
        eq(H.read_file(m.path("L", str(i))), text, "L/%d after the write" % i)
    for i, v in enumerate(LIST_VALUES):
        eq(write_elem(m.path("L", str(i)), H.elem_text(v)), None,
           "restore L/%d" % i)

    # ftruncate growth is sparse: allowed; writing into it is not
    fd = os.open(m.path("empty"), os.O_RDWR)
    try:
        os.ftruncate(fd, 1 << 20)
        eq(os.fstat(fd).st_size, 1 << 20, "fstat after growing")
        eq(os.stat(m.shm_path("empty")).st_size, 1 << 20, "real size")
        eq(os.pread(fd, 4096, 4096), bytes(4096), "read of the hole")
        expect_errno(errno.ENOSPC, os.pwrite, fd, chunk, 0,
                     what="write into the grown file")
        if passthrough:
            # (without passthrough a mapping is a page-cache copy)
            how = map_write_in_child(m.path("empty"))
            direct = map_write_in_child(m.shm_path("empty"))
            H.note("store through a mapping of it: %s (directly: %s)" % (
                how, direct))
            eq(how, direct, "store through a mount mapping vs a direct one")
            check(m.alive(), "daemon alive")
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
    still_serves(m, {k: v for k, v in segs.items() if k != "empty"}, lists,
                 "out of blocks")

    # failing writes and creates cost the daemon nothing
    base = settled(m)
    base_fds = daemon_fds(m)
    fd = os.open(m.path("keep"), os.O_WRONLY)
    try:
        for i in range(1000):
            expect_errno(errno.ENOSPC, os.pwrite, fd, chunk, 1 << 20,
                         what="write %d past the end of keep" % i)
    finally:
        os.close(fd)
    for i in range(200):
        p = m.path("t%d" % i)
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            expect_errno(errno.ENOSPC, os.write, fd, chunk, what="write")
        finally:
            os.close(fd)
        os.unlink(p)
    t = back_to(m, base, "after 1000 failed writes and 200 failed files",
                want_fds=base_fds)
    H.note("daemon back to %s (%d fds) %.1f s after the failed writes" % (
        fmt_stats(base[1]), base[0], t))
    return segs


@H.timeout(90)
def test_no_blocks_left_write_is_enospc_and_recovers():
    fs = H.mount_tmpfs("1m")
    try:
        with H.Mount(shm_dir=fs) as m:
            segs = _no_blocks_left(m, True)
            fill_size = os.stat(m.shm_path("fill")).st_size
            remount_tmpfs(fs, "size=4m")
            fd = os.open(m.path("empty"), os.O_RDWR)
            os.ftruncate(fd, 1 << 20)
            eq(os.pwrite(fd, b"w" * 4096, 8192), 4096, "write after remount")
            os.close(fd)
            eq(map_write_in_child(m.path("empty")), "ok",
               "store through a mapping after the remount")
            H.write_file(m.path("big"), b"b" * (1 << 20))
            eq(os.stat(m.shm_path("big")).st_size, 1 << 20, "a new 1 MiB")
            eq(os.stat(m.shm_path("fill")).st_size, fill_size, "fill size")
            eq(H.read_file(m.path("fill")), b"z" * fill_size, "fill data")
            segs.pop("empty")
            check_intact(m, segs, m.path)
    finally:
        H.umount_tmpfs(fs)


@H.timeout(90)
def test_no_blocks_left_without_passthrough():
    """The same with the daemon serving every read and write."""
    fs = H.mount_tmpfs("1m")
    try:
        with H.Mount(shm_dir=fs, extra_args=["--no-passthrough"]) as m:
            eq(stats(m)["backing_ids"], 0, "backing ids without passthrough")
            _no_blocks_left(m, False)
            os.unlink(m.path("fill"))
            H.write_file(m.path("big"), b"b" * (512 << 10))
            eq(H.read_file(m.shm_path("big")), b"b" * (512 << 10),
               "a new 512 KiB after the unlink")
    finally:
        H.umount_tmpfs(fs)


def _try(fn, *a):
    """"ok", or the errno name fn(*a) failed with."""
    e = H.errno_of(fn, *a)
    return "ok" if e is None else H.ename(e)


# A list whose second page lies wholly inside element 1's slot.
def punch_page_1_and_fill(m, name):
    """Make the second page of segment @name a hole (same size) and fill
    the tmpfs: the daemon's next touch of that page faults."""
    subprocess.run(["fallocate", "--punch-hole", "--offset", "4096",
                    "--length", "4096", m.shm_path(name)], check=True)
    _, err = fill(m, "fill")
    eq(err, errno.ENOSPC, "filling the tmpfs")


@H.timeout(60)
def test_fault_on_a_list_page_fails_the_request_on_every_transport():
    """A page of a list the daemon has mapped becomes a hole (punched,
    same size, so the daemon keeps its map) and the tmpfs fills: reading
    the element on that page faults in the daemon (tmpfs cannot allocate
    the page: SIGBUS).  The fault must fail that request with EIO and
    nothing else, on the io_uring threads as on /dev/fuse's.  (The ring
    threads were started with every signal blocked, SIGBUS too, and a
    fault whose signal is blocked kills the process: the daemon died, in
    CI, in test_hostile.)"""
    ring_expected = H.uring_setting() == "Y"
    for extra in ((), ("--no-uring",)):
        fs = H.mount_tmpfs("1m")
        try:
            with H.Mount(shm_dir=fs, extra_args=extra) as m:
                kind = H.transport(m)[0]
                if not extra:
                    eq(kind == "io_uring", ring_expected,
                       "served by io_uring (enable_uring=Y)")
                # the second page lies wholly inside element 1's slot
                H.shown_list(m, "P", [7, "x" * 10000])
                eq(H.read_file(m.path("P", "1")), b"x" * 10000 + b"\n",
                   "P/1 before")
                punch_page_1_and_fill(m, "P")
                eq(H.errno_of(H.read_file, m.path("P", "1")), errno.EIO,
                   "cat P/1 over the hole on the full tmpfs (%s)" % kind)
                check(m.alive(), "daemon alive after the fault (%s)" % kind)
                eq(H.read_file(m.path("P", "0")), b"7\n", "P/0 (page 0)")
                os.unlink(m.path("fill"))
                eq(H.read_file(m.path("P", "1")),
                   b"x" * 4056 + b"\0" * 4096 + b"x" * 1848 + b"\n",
                   "P/1 once there is room: the hole reads as zeros")
        finally:
            H.umount_tmpfs(fs)


@H.timeout(60)
def test_element_read_failing_halfway_keeps_the_text_read_before():
    """An element file keeps the text its last read at offset 0 got, and
    reads further in come from it.  When such a read fails halfway (a
    fault in the middle of the copy: a page punched on a full tmpfs), a
    read further in must still give the text read before, not the new
    text's first bytes over the old ones (it did: found by a review)."""
    fs = H.mount_tmpfs("1m")
    try:
        with H.Mount(shm_dir=fs) as m:
            H.shown_list(m, "B", [7, b"y" * 10000])
            fd = os.open(m.path("B", "1"), os.O_RDONLY)
            try:
                eq(os.pread(fd, 20000, 0), b"y" * 10000, "B/1 read at 0")
                sl = H.py_list(m.shm_path("B"))
                sl[1] = b"x" * 10000
                sl.shm.close()
                punch_page_1_and_fill(m, "B")
                eq(H.errno_of(os.pread, fd, 20000, 0), errno.EIO,
                   "B/1 read at 0 over the hole on the full tmpfs")
                eq(os.pread(fd, 20, 100), b"y" * 20,
                   "B/1 read at 100 after the failed read at 0")
            finally:
                os.close(fd)
            check(m.alive(), "daemon alive")
    finally:
        H.umount_tmpfs(fs)


@H.timeout(60)
def test_no_blocks_left_list_with_unallocated_pages():
    """A list whose zero bytes were never written (a program that sizes the
    segment with ftruncate and writes only the bytes that are not zero) has
    pages tmpfs has not allocated.  Once the tmpfs is full, its elements
    must still read (the zeros they hold), and writes to its elements fail
    with ENOSPC.  (The daemon reads and writes elements through a shared
    mapping; on tmpfs even a read fault on a hole allocates a page, so on a
    full tmpfs it would be SIGBUS.  The daemon allocates the holes before
    it maps a list; when there is no room it reads a copy instead, and the
    list is read-only through the mount until space comes back.)"""
    fs = H.mount_tmpfs("1m")
    try:
        with H.Mount(shm_dir=fs) as m:
            make_holey_list(m.shm_path("H"))
            ok, _ = H.poll_until(lambda: os.path.isdir(m.path("H")), 2)
            check(ok, "list H is not a folder")
            # (not read before: a read through the daemon's mapping
            # allocates the pages it touches)
            _, err = fill(m, "fill")
            eq(err, errno.ENOSPC, "filling the tmpfs")
            drop_caches()          # the next look is a fresh lookup
            got = {
                "ls H": _try(os.listdir, m.path("H")),
                "stat H/0": _try(os.stat, m.path("H", "0")),
                "cat H/0": _try(H.read_file, m.path("H", "0")),
                "cat H/1": _try(H.read_file, m.path("H", "1")),
                "cat H/2": _try(H.read_file, m.path("H", "2")),
                "cat H/.raw": _try(H.read_file, m.path("H", ".raw")),
                "echo 6 > H/2": write_elem(m.path("H", "2"), b"6\n") or "ok",
                "echo abc > H/1": write_elem(m.path("H", "1"), b"abc") or
                "ok",
            }
            H.note("on the full tmpfs: %s" % got)
            check(m.alive(), "daemon alive")
            # the same with space: what the failed calls should have done
            remount_tmpfs(fs, "size=2m")
            eq([H.read_file(m.path("H", str(i))) for i in range(3)],
               [b"", b"", b"6\n" if got["echo 6 > H/2"] == "ok" else b"5\n"],
               "elements after the remount")
            eq(write_elem(m.path("H", "1"), b"abc"), None, "H/1 = abc")
            eq(H.read_file(m.path("H", "1")), b"abc", "H/1")
            eq(got, {"ls H": "ok", "stat H/0": "ok", "cat H/0": "ok",
                     "cat H/1": "ok", "cat H/2": "ok", "cat H/.raw": "ok",
                     "echo 6 > H/2": ("write", "ENOSPC"),
                     "echo abc > H/1": ("write", "ENOSPC")},
               "a list with unallocated pages on a full tmpfs")
    finally:
        H.umount_tmpfs(fs)


@H.timeout(60)
def test_shmfsctl_list_new_on_full_tmpfs_is_enospc():
    """Creating a list on a full tmpfs (shmfsctl list new, i.e. libshmseg's
    shmseg_list_create()) fails with ENOSPC and leaves nothing behind."""
    ctl = os.path.join(os.path.dirname(H.SHMFS), "shmfsctl")
    if not os.access(ctl, os.X_OK):
        raise H.Skip("no shmfsctl next to %s" % H.SHMFS)
    fs = H.mount_tmpfs("1m")
    try:
        with H.Mount(shm_dir=fs) as m:
            _, err = fill(m, "fill")
            eq(err, errno.ENOSPC, "filling the tmpfs")
            r = subprocess.run([ctl, "--dir", fs, "list", "new", "--name",
                                "new", "1", "2", "3"], capture_output=True,
                               text=True, timeout=30)
            H.note("shmfsctl list new on a full tmpfs: exit %d%s, %r" % (
                r.returncode, " (%s)" % signal.Signals(-r.returncode).name
                if r.returncode < 0 else "", r.stderr.strip()[-200:]))
            left = sorted(n for n in os.listdir(fs) if n != "fill")
            check(m.alive(), "daemon alive")
            eq((r.returncode, "no space left" in r.stderr.lower(), left),
               (1, True, []), "(exit status, says ENOSPC, segments left)")
    finally:
        H.umount_tmpfs(fs)


# Several writers fill the tmpfs again and again (each keeps a few files
# and removes its oldest) while readers read: every error is counted.
STRESS_PRELUDE = r"""
import errno, json, os, sys, time
M, END, ME = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
R = {"errors": {}, "ops": 0, "enospc": 0}
def err(what, e):
    k = "%s:%s" % (what, errno.errorcode.get(e.errno, e.errno))
    R["errors"][k] = R["errors"].get(k, 0) + 1
"""

STRESS_WRITER = STRESS_PRELUDE + r"""
own, i = [], 0
while time.time() < END:
    i += 1
    p = os.path.join(M, "w%d_%d" % (ME, i))
    try:
        fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as e:
        err("create", e)
        R["enospc"] += e.errno == errno.ENOSPC
        continue
    own.append(p)
    try:
        for _ in range(4):
            os.write(fd, b"w" * 65536)
            R["ops"] += 1
    except OSError as e:
        err("write", e)
        R["enospc"] += e.errno == errno.ENOSPC
    finally:
        os.close(fd)
    while len(own) > 3:
        try:
            os.unlink(own.pop(0))
        except OSError as e:
            err("unlink", e)
for p in own:
    os.unlink(p)
print(json.dumps(R))
"""

STRESS_READER = STRESS_PRELUDE + r"""
want = json.loads(sys.argv[4])
seg = bytes(range(256)) * 32
while time.time() < END:
    try:
        with open(os.path.join(M, "keep"), "rb") as f:
            if f.read() != seg:
                R["errors"]["keep mismatch"] = 1
        for i, t in want.items():
            with open(os.path.join(M, "L", i), "rb") as f:
                if f.read().decode() != t:
                    R["errors"]["L/%s mismatch" % i] = 1
        names = os.listdir(M)
        if "keep" not in names or "L" not in names:
            R["errors"]["ls"] = 1
        # an element write needs no new page
        if ME % 2:
            fd = os.open(os.path.join(M, "L", "6"), os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, b"%d\n" % R["ops"])
            finally:
                os.close(fd)
        os.stat(os.path.join(M, "keep"))
        R["ops"] += 1
    except OSError as e:
        err("reader", e)
print(json.dumps(R))
"""


@H.timeout(90)
def test_concurrent_writers_hit_enospc_readers_unaffected():
    fs = H.mount_tmpfs("2m")
    try:
        with H.Mount(shm_dir=fs) as m:
            segs, lists = fixtures(m)
            want = {str(i): H.elem_text(v).decode()
                    for i, v in enumerate(LIST_VALUES) if i != 6}
            base = settled(m)
            end = time.time() + 0.5 + 3.0
            procs = []
            for k in range(4):
                procs.append(("writer%d" % k, subprocess.Popen(
                    [sys.executable, "-c", STRESS_WRITER, m.mnt, repr(end),
                     str(k)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True, cwd="/")))
            for k in range(3):
                procs.append(("reader%d" % k, subprocess.Popen(
                    [sys.executable, "-c", STRESS_READER, m.mnt, repr(end),
                     str(k), json.dumps(want)], stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True, cwd="/")))
            res = {}
            for who, p in procs:
                try:
                    so, se = p.communicate(timeout=40)
                except subprocess.TimeoutExpired:
                    p.kill()
                    so, se = p.communicate()
                    raise H.TestFailure("%s did not finish" % who)
                check(p.returncode == 0, "%s failed (%s): %s" % (
                    who, p.returncode, se.strip()[-1500:]))
                res[who] = json.loads(so.strip().splitlines()[-1])
            unexpected = {}
            for who, r in res.items():
                for k, n in r["errors"].items():
                    if not (who.startswith("writer") and
                            k in ("create:ENOSPC", "write:ENOSPC")):
                        unexpected["%s %s" % (who, k)] = n
            H.note("writers: %s" % ", ".join(
                "%d ops/%d ENOSPC" % (r["ops"], r["enospc"])
                for w, r in sorted(res.items()) if w.startswith("writer")))
            H.note("readers: %s" % ", ".join(
                "%d rounds" % r["ops"]
                for w, r in sorted(res.items()) if w.startswith("reader")))
            eq(unexpected, {}, "errors other than ENOSPC for writes")
            check(sum(r["enospc"] for r in res.values()) > 0,
                  "no writer ever hit ENOSPC")
            check(all(r["ops"] > 0 for r in res.values()),
                  "some process did nothing: %s" % res)
            check(m.alive(), "daemon alive")
            eq(write_elem(m.path("L", "6"), b"123456789\n"), None,
               "restore L/6")
            eq(sorted(os.listdir(fs)), sorted(list(segs) + ["L", "victim"]),
               "the writers removed their files")
            back_to(m, base, "after the writers and readers")
            H.write_file(m.path("after"), b"a" * (512 << 10))
            eq(H.read_file(m.shm_path("after")), b"a" * (512 << 10),
               "a new 512 KiB")
            still_serves(m, segs, lists, "after the stress")
    finally:
        H.umount_tmpfs(fs)


# ---------------------------------------------------------------------------
# A process that dies holding files and mappings

HOLDER = r"""
import json, mmap, os, sys
M, LIST, segs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
keep = []
L = os.path.join(M, LIST)
for i, n in enumerate(segs):
    p = os.path.join(M, n)
    fds = [os.open(p, os.O_RDWR), os.open(p, os.O_RDONLY),
           os.open(p, os.O_WRONLY)]
    keep += fds
    if i % 4 == 0:                               # MAP_SHARED, written
        mm = mmap.mmap(fds[0], os.fstat(fds[0]).st_size)
        mm[0:8] = b"held%04d" % i
        keep.append(mm)
raw = os.open(os.path.join(L, ".raw"), os.O_RDWR)
rm = mmap.mmap(raw, os.fstat(raw).st_size)
keep += [raw, rm]
n = len([e for e in os.listdir(L) if e != ".raw"])
for i in range(n):
    e = os.path.join(L, str(i))
    keep += [os.open(e, os.O_RDONLY), os.open(e, os.O_RDWR)]
    os.read(keep[-2], 3)                         # partly read
# writes in progress: "12" of "123\n" to element 0, "ab" of "abc" to 1
w0 = os.open(os.path.join(L, "0"), os.O_WRONLY | os.O_TRUNC)
os.write(w0, b"12")
w1 = os.open(os.path.join(L, "1"), os.O_WRONLY | os.O_TRUNC)
os.write(w1, b"ab")
keep += [w0, w1]
# the folder and the top level open, one read half-way; cwd in the folder
keep.append(os.open(L, os.O_RDONLY | os.O_DIRECTORY))
it = os.scandir(L)
next(it)
top = os.scandir(M)
next(top)
keep += [it, top, os.open(M, os.O_RDONLY)]
os.chdir(L)
values = {}
for i in range(n):
    with open(str(i), "rb") as f:
        values[str(i)] = f.read().decode("latin-1")
print(json.dumps({"values": values, "pid": os.getpid()}), flush=True)
if sys.stdin.readline().strip() == "exit":
    os._exit(0)                                  # nothing closed
sys.stdin.readline()
"""

READER = r"""
import json, os, sys
L = sys.argv[1]
n = len([e for e in os.listdir(L) if e != ".raw"])
out = {}
for i in range(n):
    with open(os.path.join(L, str(i)), "rb") as f:
        out[str(i)] = f.read().decode("latin-1")
print(json.dumps(out))
"""


def _holder_dies(m, how):
    segs = []
    for i in range(40):
        n = "s%02d" % i
        H.write_file(m.shm_path(n),
                     bytes([65 + i % 26]) * (4096 * (1 + i % 4)))
        segs.append(n)
    H.make_list(m.shm, "L", LIST_VALUES)
    ok, _ = H.poll_until(lambda: os.path.isdir(m.path("L")), 2)
    check(ok, "list L is not a folder")
    base = settled(m)
    base_fds = daemon_fds(m)
    p = subprocess.Popen([sys.executable, "-c", HOLDER, m.mnt, "L",
                          json.dumps(segs)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd="/")
    try:
        line = p.stdout.readline()
        if not line:
            p.wait(10)
            raise H.TestFailure("the holder failed (%s): %s" % (
                p.returncode, p.stderr.read().strip()[-1500:]))
        held_values = json.loads(line)["values"]
        time.sleep(0.2)
        held = state(m)
        H.note("baseline %s, %d fds; held %s, %d fds" % (
            fmt_stats(base[1]), base[0], fmt_stats(held[1]), held[0]))
        nelem = len(LIST_VALUES)
        # the holder's opens reached the daemon (else this proves nothing)
        check(held[0] >= base[0] + len(segs) + 1, "daemon fds while held")
        want = {"open_files": len(segs) + 1, "backing_ids": len(segs) + 1,
                "handles": 2 * nelem + 2 + 3,
                "nodes": len(segs) + 1 + 1 + nelem}
        for k, more in want.items():
            check(held[1][k] >= base[1][k] + more, "%s while held: %d, want "
                  ">= %d + %d" % (k, held[1][k], base[1][k], more))
        eq(held_values["0"], "12\n", "element 0 after the holder wrote 12")
        eq(held_values["1"], "ab\n", "element 1 after the holder wrote ab")
        if how == "kill":
            p.kill()
        else:
            p.stdin.write("exit\n")
            p.stdin.flush()
        rc = p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
        p.stdout.close()
        p.stderr.close()
    eq(rc, -signal.SIGKILL if how == "kill" else 0, "holder's end")
    t = back_to(m, base, "after the holder died (%s)" % how,
                want_fds=base_fds)
    H.note("back to the baseline %.1f s after the holder died" % t)

    # everything usable: a new process sees the holder's values
    r = subprocess.run([sys.executable, "-c", READER, m.path("L")],
                       capture_output=True, text=True, timeout=30)
    eq(r.returncode, 0, "reader (%s)" % r.stderr.strip()[-500:])
    eq(json.loads(r.stdout), held_values, "elements seen by a new process")
    for i, n in enumerate(segs):
        data = H.read_file(m.path(n))
        eq(data, H.read_file(m.shm_path(n)), n + " through the mount")
        if i % 4 == 0:
            eq(data[:8], b"held%04d" % i, n + ": the holder's mapped store")
        fd = os.open(m.path(n), os.O_RDWR)
        eq(os.pwrite(fd, b"after", 0), 5, "write " + n)
        os.close(fd)
        eq(H.read_file(m.shm_path(n))[:5], b"after", n + " written")
        os.unlink(m.path(n))
    eq(write_elem(m.path("L", "0"), b"99\n"), None, "echo 99 > L/0")
    eq(H.read_file(m.path("L", "0")), b"99\n", "L/0")
    r = H.sh("rm -r %s" % m.path("L"))
    eq((r.returncode, r.stderr), (0, b""), "rm -r L")
    eq(os.listdir(m.shm), [], "shm dir after the unlinks and rm -r")
    drop_caches()
    m.stop()
    eq(m.exit_code, 0, "daemon exit status after fusermount3 -u")


@H.timeout(60)
def test_sigkilled_holder_leaves_nothing_stuck(m):
    _holder_dies(m, "kill")


@H.timeout(60)
def test_holder_exiting_without_closing_leaves_nothing_stuck(m):
    _holder_dies(m, "exit")


BUSY = r"""
import os, sys, threading
M = sys.argv[1]
L = os.path.join(M, "L")

def segs(k):
    i = 0
    while True:
        i += 1
        p = os.path.join(M, "s%d" % (i % 8))
        fd = os.open(p, os.O_RDWR)
        os.pread(fd, 64, 0)
        os.pwrite(fd, b"busy", 0)
        os.close(fd)
        p = os.path.join(M, "t%d_%d" % (k, i % 4))
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o600)
        os.write(fd, b"t")
        os.close(fd)
        os.unlink(p)

def elems(k):
    i, kept = 0, []
    while True:
        i += 1
        fd = os.open(os.path.join(L, str(i % 3)), os.O_RDWR)
        os.read(fd, 64)
        os.close(fd)
        fd = os.open(os.path.join(L, "1"), os.O_WRONLY | os.O_TRUNC)
        os.write(fd, b"%d" % i)                  # some stay open
        kept.append(fd)
        if len(kept) > 20 or i % 2:
            os.close(kept.pop(0))
        os.listdir(L)
        os.listdir(M)

def guarded(fn, k):
    try:
        fn(k)
    except OSError as e:
        sys.stderr.write("thread %d: %r\n" % (k, e))
        sys.stderr.flush()
        os._exit(3)

for k, fn in enumerate((segs, segs, elems, elems)):
    threading.Thread(target=guarded, args=(fn, k), daemon=True).start()
print("running", flush=True)
sys.stdin.readline()
"""


@H.timeout(90)
def test_holder_killed_with_requests_in_flight(m):
    """A process with four threads in tight open/read/write/close loops
    (segments, created files, element files, folders) is SIGKILLed at a
    random moment, 12 times: every request in flight when it dies is
    answered or dropped, and nothing stays behind in the daemon."""
    for i in range(8):
        H.write_file(m.shm_path("s%d" % i), b"s" * 4096)
    H.make_list(m.shm, "L", [1, 2, "three"])
    ok, _ = H.poll_until(lambda: os.path.isdir(m.path("L")), 2)
    check(ok, "list L is not a folder")
    base = settled(m)
    base_fds = daemon_fds(m)
    rng = random.Random(1234)
    for r in range(12):
        p = subprocess.Popen([sys.executable, "-c", BUSY, m.mnt],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd="/")
        try:
            eq(p.stdout.readline().strip(), "running", "busy holder started")
            time.sleep(rng.uniform(0.02, 0.25))
            if p.poll() is not None:
                raise H.TestFailure("round %d: the busy holder stopped (%s): "
                                    "%s" % (r, p.returncode,
                                            p.stderr.read()[-800:]))
            p.kill()
            rc = p.wait(timeout=10)
            eq(rc, -signal.SIGKILL, "round %d: killed (%s)" % (
                r, p.stderr.read()[-800:] if rc != -signal.SIGKILL else ""))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            for f in (p.stdin, p.stdout, p.stderr):
                f.close()
    check(m.alive(), "daemon alive")
    t = back_to(m, base, "after 12 busy holders were killed",
                want_fds=base_fds)
    H.note("back to the baseline %.1f s after the last kill" % t)
    left = sorted(n for n in os.listdir(m.shm) if n.startswith("t"))
    for n in left:                      # killed between create and unlink
        os.unlink(m.path(n))
    H.note("%d created files left by killed rounds (removed)" % len(left))
    eq(sorted(os.listdir(m.mnt)), ["L"] + ["s%d" % i for i in range(8)],
       "listing")
    v = H.read_file(m.path("L", "1"))
    check(v.strip().isdigit(), "L/1 holds a number: %r" % v)
    eq(write_elem(m.path("L", "1"), b"2\n"), None, "echo 2 > L/1")
    for i in range(8):
        eq(H.read_file(m.path("s%d" % i)), b"busy" + b"s" * 4092, "s%d" % i)
    r = H.sh("rm -r %s" % m.path("L"))
    eq(r.returncode, 0, "rm -r L")
    m.stop()
    eq(m.exit_code, 0, "daemon exit status")


VICTIM = r"""
import mmap, os, sys
M = sys.argv[1]
p = os.path.join(M, "shared")
fds = [os.open(p, os.O_RDWR) for _ in range(5)]
mm = mmap.mmap(fds[0], os.fstat(fds[0]).st_size)
mm[4096:4102] = b"victim"
o = os.open(os.path.join(M, "other"), os.O_RDWR)
om = mmap.mmap(o, 4096)
om[0:6] = b"victim"
print("ready", flush=True)
sys.stdin.readline()
"""


@H.timeout(60)
def test_killed_mapper_survivor_keeps_mapping(m):
    size = 1 << 20
    H.write_file(m.shm_path("shared"), bytes(size))
    H.write_file(m.shm_path("other"), bytes(4096))
    base = settled(m)
    base_fds = daemon_fds(m)
    fd = os.open(m.path("shared"), os.O_RDWR)
    mm = mmap.mmap(fd, size)
    os.close(fd)
    mm[0:8] = b"survivor"
    one = settled(m)
    eq({k: one[1][k] - base[1][k] for k in H.STATS_KEYS},
       {"nodes": 1, "handles": 0, "open_files": 1, "backing_ids": 1,
        "list_maps": 0}, "stats while only the survivor maps shared")
    p = subprocess.Popen([sys.executable, "-c", VICTIM, m.mnt],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd="/")
    try:
        if p.stdout.readline().strip() != "ready":
            p.wait(10)
            raise H.TestFailure("victim failed: %s" % p.stderr.read()[-1000:])
        eq(mm[4096:4102], b"victim", "the victim's store in our mapping")
        two = state(m)
        eq(two[1]["open_files"] - base[1]["open_files"], 2,
           "open files while both map")
        p.kill()
        eq(p.wait(timeout=10), -signal.SIGKILL, "victim killed")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
        p.stdout.close()
        p.stderr.close()
    t = back_to(m, one, "after the victim died")
    H.note("back to the survivor's state %.1f s after the kill" % t)
    # the survivor's mapping works both ways
    mm[8192:8197] = b"after"
    eq(H.read_file(m.shm_path("shared"))[8192:8197], b"after",
       "survivor's store seen directly")
    with open(m.shm_path("shared"), "r+b") as f:
        f.seek(12288)
        f.write(b"direct")
    eq(mm[12288:12294], b"direct", "direct write seen in the mapping")
    eq(H.read_file(m.path("shared"))[:8], b"survivor", "read via the mount")
    eq(H.read_file(m.path("other"))[:6], b"victim", "other")
    # unlinked while mapped: the node lives as long as the mapping
    os.unlink(m.path("shared"))
    check(not os.path.exists(m.shm_path("shared")), "shared unlinked")
    mm[16384:16388] = b"live"
    eq(mm[16384:16388], b"live", "mapping of the unlinked segment")
    drop_caches()
    # (the RELEASEs of the reads above are sent in the background)
    H.poll_until(lambda: stats(m)["open_files"] == one[1]["open_files"], 2)
    eq(stats(m)["open_files"], one[1]["open_files"],
       "open files while the unlinked segment is mapped")
    mm.close()
    os.unlink(m.path("other"))
    t = back_to(m, base, "after the survivor unmapped", want_fds=base_fds)
    H.note("node released %.1f s after the last unmap" % t)


# ---------------------------------------------------------------------------
# SIGTERM while many opens are in flight

WORKER = r"""
import errno, json, mmap, os, sys, time
M, ME, END = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
segs = sys.argv[4:]
root = os.open(M, os.O_RDONLY | os.O_DIRECTORY)    # stays on the mount
R = {"errors": [], "made": 0}
i = 0
while time.time() < END:
    i += 1
    try:
        step = "open"
        fd = os.open(segs[i % len(segs)], os.O_RDONLY, dir_fd=root)
        step = "read"
        os.read(fd, 64)
        if i % 9 == 0:
            step = "mmap"
            mm = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
            mm.close()
        os.close(fd)
        name = "w%d_%d" % (ME, i)
        step = "create"
        fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600,
                     dir_fd=root)
        step = "write"
        os.write(fd, name.encode() * 10)
        os.close(fd)
        print(name, flush=True)             # created and written
        R["made"] += 1
        if i % 5 == 0:
            step = "listdir"
            os.listdir(root)
        if i % 7 == 0:
            step = "element"
            fd = os.open("L/%d" % (i % 3), os.O_RDONLY, dir_fd=root)
            os.read(fd, 64)
            os.close(fd)
    except OSError as e:
        R["errors"].append([time.time(), "%s:%s" % (
            step, errno.errorcode.get(e.errno, e.errno))])
        if len(R["errors"]) > 20:
            break
print(json.dumps(R), flush=True)
"""


@H.timeout(60)
def test_sigterm_during_activity_unmounts_exits_0_loses_nothing(m):
    segs = ["s%d" % i for i in range(30)]
    for n in segs:
        H.write_file(m.shm_path(n), n.encode() * 100)
    H.make_list(m.shm, "L", [1, "two", 3.0])
    ok, _ = H.poll_until(lambda: os.path.isdir(m.path("L")), 2)
    check(ok, "list L is not a folder")
    before = snapshot(m.shm)
    end = time.time() + 20
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, m.mnt, str(k),
                               repr(end)] + segs, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd="/")
             for k in range(5)]
    try:
        # the workers are busy: wait for files from each of them
        def busy():
            return all(any(n.startswith("w%d_" % k) for n in
                           os.listdir(m.shm)) for k in range(5))
        ok, _ = H.poll_until(busy, 15, 0.05)
        check(ok, "the workers did not get going")
        time.sleep(0.3)
        t_term = time.time()
        m.kill(signal.SIGTERM)
        m.expect_dead = True
        rc = m.wait_exit(15)
        t_exit = time.time() - t_term
        out = []
        for k, p in enumerate(procs):
            try:
                so, se = p.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                so, se = p.communicate()
                raise H.TestFailure("worker %d still stuck 20 s after "
                                    "SIGTERM" % k)
            check(p.returncode == 0, "worker %d failed (%s): %s" % (
                k, p.returncode, se.strip()[-1500:]))
            lines = so.strip().splitlines()
            out.append((lines[:-1], json.loads(lines[-1])))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    log = m.log_text()
    eq(rc, 0, "daemon exit status after SIGTERM (log: %s)" %
       log.strip()[-500:])
    check(not H.is_mounted(m.mnt), "still mounted after SIGTERM")
    H.note("daemon exited %.2f s after SIGTERM" % t_exit)
    errs = {}
    early = []
    made = 0
    for names, r in out:
        made += len(names)
        for t, e in r["errors"]:
            errs[e] = errs.get(e, 0) + 1
            if t < t_term:
                early.append(e)
    H.note("%d files made by 5 workers; errors after SIGTERM: %s" % (
        made, errs))
    eq(early, [], "errors before the SIGTERM")
    # nothing lost: every file reported made is there with its data
    now = snapshot(m.shm)
    for names, _ in out:
        for n in names:
            check(n in now, "%s reported made, gone after SIGTERM" % n)
            eq(now[n][0], n.encode() * 10, "content of " + n)
    for n in now:
        if n.startswith("w"):
            check(now[n][0] in (b"", n.encode() * 10), "content of " + n)
    for n, v in before.items():
        eq(now.get(n), v, n + " after SIGTERM")
    m.stop()
    check(not H.SANITIZER_RE.search(log), "sanitizer report")
    # a new daemon shows everything
    m.start()
    eq(sorted(os.listdir(m.mnt)), sorted(now), "listing after remount")
    eq(H.read_file(m.path("L", "1")), b"two\n", "L/1 after remount")
    m.stop()
    eq(m.exit_code, 0, "second daemon's exit status")


if __name__ == "__main__":
    H.run(globals())
