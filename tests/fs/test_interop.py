#!/usr/bin/python3
"""test_interop.py - Python's shared_memory through a mount of the real
/dev/shm (issue 3, "Tests").

    test_interop.py SHMFS [TEST-NAME-SUBSTRING ...]

SharedMemory and ShareableList objects are created by CPython in /dev/shm
(names shmfs_test_<pid>_*, all removed at exit), and read and written
through a shmfs mount of /dev/shm - read(2), mmap, numpy over the mapping,
cat and echo - and the reverse: segments and lists made through the mount
and opened by Python.
"""
import mmap
import os
import subprocess
import sys

import numpy as np
from multiprocessing import shared_memory

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shmfs_harness as H  # noqa: E402
from shmfs_harness import check, eq, elem_text  # noqa: E402

LIMIT = float(os.environ.get("SHMFS_TEST_COHERENCE_MS", "100")) / 1000.0


def dev_shm_mount(**kw):
    return H.Mount(shm_dir="/dev/shm", **kw)


def test_sharedmemory_seen_through_mount():
    with dev_shm_mount() as m:
        name = H.new_name("x")
        os.listdir(m.mnt)
        shm = shared_memory.SharedMemory(name=name, create=True, size=16384)
        try:
            ok, t = H.poll_until(lambda: os.path.isfile(m.path(name)), 2)
            check(ok, "SharedMemory not visible on the mount")
            H.latencies([t], "SharedMemory -> visible", LIMIT)
            st, real = os.stat(m.path(name)), os.stat("/dev/shm/" + name)
            eq(st.st_size, 16384, "size")
            eq((st.st_mode, st.st_uid, st.st_mtime_ns),
               (real.st_mode, real.st_uid, real.st_mtime_ns), "attributes")
            shm.buf[:5] = b"hello"
            eq(H.read_file(m.path(name))[:5], b"hello", "read(2) via mount")
            fd = os.open(m.path(name), os.O_RDWR)
            mm = mmap.mmap(fd, 16384)
            try:
                eq(mm[:5], b"hello", "mount mapping sees Python's write")
                for i in range(100):
                    off = 37 * i
                    mm[off + 8:off + 12] = b"%04d" % i
                    eq(bytes(shm.buf[off + 8:off + 12]), b"%04d" % i,
                       "SharedMemory.buf sees the mount mapping at once")
                    shm.buf[off + 12] = i
                    eq(mm[off + 12], i, "mount mapping sees shm.buf")
                os.pwrite(fd, b"pwrite", 9000)
                eq(bytes(shm.buf[9000:9006]), b"pwrite", "shm.buf sees "
                   "pwrite through the mount")
            finally:
                mm.close()
                os.close(fd)
        finally:
            shm.close()
            shm.unlink()


def test_numpy_over_mount_mmap():
    with dev_shm_mount() as m:
        name = H.new_name("np")
        n = 100000
        shm = shared_memory.SharedMemory(name=name, create=True, size=8 * n)
        try:
            H.poll_until(lambda: os.path.exists(m.path(name)), 2)
            fd = os.open(m.path(name), os.O_RDWR)
            mm = mmap.mmap(fd, 8 * n)
            os.close(fd)
            a = np.frombuffer(mm, dtype=np.float64)
            b = np.ndarray((n,), dtype=np.float64, buffer=shm.buf)
            a[:] = np.arange(n, dtype=np.float64)
            check(np.array_equal(b, np.arange(n)), "Python's array sees the "
                  "numpy array over the mount mapping")
            b *= 2
            check(np.array_equal(a, 2 * np.arange(n)), "the mount array sees "
                  "Python's array")
            # numpy.memmap of the mount file too
            mmp = np.memmap(m.path(name), dtype=np.float64, mode="r+",
                            shape=(n,))
            check(np.array_equal(mmp, b), "np.memmap of the mount file")
            mmp[7] = -1.5
            eq(float(b[7]), -1.5, "shm sees np.memmap write")
            del mmp
            del a, b
            mm.close()
        finally:
            shm.close()
            shm.unlink()


def test_segment_made_through_mount_opened_by_python():
    with dev_shm_mount() as m:
        name = H.new_name("m")
        fd = os.open(m.path(name), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        os.ftruncate(fd, 8192)
        os.pwrite(fd, b"from the mount", 0)
        shm = shared_memory.SharedMemory(name=name)
        try:
            eq(shm.size, 8192, "Python sees the size")
            eq(bytes(shm.buf[:14]), b"from the mount", "Python sees data")
            shm.buf[20:26] = b"python"
            eq(os.pread(fd, 6, 20), b"python", "mount fd sees Python write")
        finally:
            os.close(fd)
            shm.close()
            shm.unlink()
        ok, _ = H.poll_until(lambda: not os.path.exists(m.path(name)), 1)
        check(ok, "Python's unlink not seen on the mount")


def test_sharable_list_through_mount():
    with dev_shm_mount() as m:
        name = H.new_name("sl")
        values = [1, 2.5, "hello", b"raw\n", None, True, -7]
        sl = shared_memory.ShareableList(values, name=name)
        try:
            ok, t = H.poll_until(lambda: os.path.isdir(m.path(name)), 2)
            check(ok, "ShareableList not shown as a folder (%s)" % (
                "file" if os.path.isfile(m.path(name)) else "missing"))
            H.latencies([t], "ShareableList -> folder", LIMIT)
            for i, v in enumerate(values):
                eq(H.read_file(m.path(name, str(i))), elem_text(v),
                   "cat of element %d" % i)
            eq(os.getxattr(m.path(name), "user.shmfs.format"),
               sl.format.encode(), "format xattr")
            r = H.sh("echo 42 > %s" % m.path(name, "0"))
            eq(r.returncode, 0, "echo 42 > 0: %r" % r.stderr)
            eq(sl[0], 42, "Python sees 42 at once")
            for k in range(300):
                sl[2] = "w%d" % k
                eq(H.read_file(m.path(name, "2")), b"w%d\n" % k,
                   "cat sees Python's write at once (round %d)" % k)
            r = H.sh("echo notanumber > %s" % m.path(name, "1"))
            check(r.returncode != 0, "bad float accepted")
            eq(sl[1], 2.5, "float kept")
            r = H.sh("echo 'far too long for the slot' > %s" %
                     m.path(name, "2"))
            check(r.returncode != 0, "oversize str accepted")
            eq(sl[2], "w299", "str kept")
            raw = H.read_file(m.path(name, ".raw"))
            eq(raw, bytes(sl.shm.buf), ".raw is the segment")
        finally:
            sl.shm.close()
            sl.shm.unlink()


def test_list_made_through_mount_opened_by_python():
    with dev_shm_mount() as m:
        name = H.new_name("ml")
        data, fmt = H.cpython_list_bytes([10, "abc", 1.5])
        fd = os.open(m.path(name), os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                     0o600)
        os.write(fd, data)
        os.close(fd)
        sl = shared_memory.ShareableList(name=name)
        try:
            eq(list(sl), [10, "abc", 1.5], "Python reads the list")
            ok, _ = H.poll_until(lambda: os.path.isdir(m.path(name)), 1)
            check(ok, "list written through the mount not shown as a folder")
            r = H.sh("echo xyz > %s" % m.path(name, "1"))
            eq(r.returncode, 0, "echo xyz")
            eq(sl[1], "xyz", "Python sees echo")
        finally:
            sl.shm.close()
            sl.shm.unlink()


def test_rm_through_mount_destroys_for_python():
    with dev_shm_mount() as m:
        name = H.new_name("rm")
        shm = shared_memory.SharedMemory(name=name, create=True, size=4096)
        try:
            H.poll_until(lambda: os.path.exists(m.path(name)), 2)
            r = H.sh("rm %s" % m.path(name))
            eq(r.returncode, 0, "rm")
            try:
                shared_memory.SharedMemory(name=name).close()
                raise H.TestFailure("Python still opens the removed segment")
            except FileNotFoundError:
                pass
            shm.buf[0] = 7
            eq(shm.buf[0], 7, "existing mapping survives rm")
        finally:
            shm.close()
        lname = H.new_name("rml")
        sl = shared_memory.ShareableList([1, 2], name=lname)
        try:
            H.poll_until(lambda: os.path.isdir(m.path(lname)), 2)
            H.sh("rm -r %s" % m.path(lname))
            try:
                shared_memory.ShareableList(name=lname).shm.close()
                raise H.TestFailure("Python still opens the list after rm -r")
            except FileNotFoundError:
                pass
        finally:
            sl.shm.close()


def test_python_unlink_seen_within_limit():
    with dev_shm_mount() as m:
        lat = []
        for i in range(10):
            name = H.new_name("ul")
            shm = shared_memory.SharedMemory(name=name, create=True,
                                             size=4096)
            H.poll_until(lambda: os.path.exists(m.path(name)), 2)
            os.stat(m.path(name))
            shm.close()
            shm.unlink()
            ok, t = H.poll_until(
                lambda: not os.path.exists(m.path(name))
                and name not in os.listdir(m.mnt), 2)
            check(ok, "unlinked SharedMemory still on the mount")
            lat.append(t)
        H.latencies(lat, "Python unlink -> gone", LIMIT)


def test_passthrough_on_dev_shm():
    with dev_shm_mount() as m:
        name = H.new_name("pt")
        shm = shared_memory.SharedMemory(name=name, create=True, size=4096)
        try:
            H.poll_until(lambda: os.path.exists(m.path(name)), 2)
            eq(os.getxattr(m.path(name), "user.shmfs.passthrough"), b"1",
               "passthrough")
        finally:
            shm.close()
            shm.unlink()


def test_python_subprocess_reads_mount_file_via_mmap():
    """Another Python process mapping the mount file sees our SharedMemory
    writes, and we see its writes (no copies anywhere)."""
    with dev_shm_mount() as m:
        name = H.new_name("sp")
        shm = shared_memory.SharedMemory(name=name, create=True, size=4096)
        try:
            H.poll_until(lambda: os.path.exists(m.path(name)), 2)
            shm.buf[:4] = b"ping"
            code = ("import mmap,os\n"
                    "fd=os.open(%r,os.O_RDWR)\n"
                    "mm=mmap.mmap(fd,4096)\n"
                    "print(mm[:4].decode())\n"
                    "mm[4:8]=b'pong'\n" % m.path(name))
            r = subprocess.run([sys.executable, "-c", code],
                               capture_output=True, text=True, timeout=30)
            eq((r.returncode, r.stdout.strip()), (0, "ping"),
               "child reads via the mount (%s)" % r.stderr.strip())
            eq(bytes(shm.buf[4:8]), b"pong", "we see the child's write")
        finally:
            shm.close()
            shm.unlink()


if __name__ == "__main__":
    H.run(globals())
