#!/usr/bin/python3
"""test_segments.py - segments as files (issue 3, "Segments as files").

    test_segments.py SHMFS [TEST-NAME-SUBSTRING ...]

Every test mounts a private shm directory (tmpfs, mode 1777) and checks the
mount against the real files: listing, attributes, hidden entries, create
(with the caller's owner and umask), unlink, truncate, rename, chmod, chown,
utimens, statfs, read/write/fsync, refused operations, mmap coherence both
ways through passthrough, xattrs, and fd leaks over many open/close cycles.
"""
import errno
import mmap
import os
import socket
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shmfs_harness as H  # noqa: E402
from shmfs_harness import check, eq, expect_errno  # noqa: E402

def same_attrs(a, b, what, times=True):
    eq(a.st_size, b.st_size, what + ": size")
    eq(oct(a.st_mode), oct(b.st_mode), what + ": mode")
    eq((a.st_uid, a.st_gid), (b.st_uid, b.st_gid), what + ": owner")
    if times:
        eq(a.st_mtime_ns, b.st_mtime_ns, what + ": mtime")
        eq(a.st_ctime_ns, b.st_ctime_ns, what + ": ctime")


# ---------------------------------------------------------------------------
# Listing and attributes


def test_ls_and_stat_match_real_files(m):
    specs = [("a", 0, 0o600, 0, 0), ("b", 4096, 0o644, 0, 0),
             ("psm_1a2b3c4d", 123457, 0o640, 65534, 65534),
             ("with space", 7, 0o600, 1234, 5678)]
    for name, size, mode, uid, gid in specs:
        p = m.shm_path(name)
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.ftruncate(fd, size)
        os.close(fd)
        os.chmod(p, mode)
        os.chown(p, uid, gid)
        os.utime(p, ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    eq(sorted(os.listdir(m.mnt)), sorted(s[0] for s in specs), "listing")
    for name, size, mode, uid, gid in specs:
        a, b = os.stat(m.path(name)), os.stat(m.shm_path(name))
        check(stat.S_ISREG(a.st_mode), "%s is not a regular file" % name)
        same_attrs(a, b, name)
        eq(a.st_mtime_ns, 1_500_000_000_987_654_321, name + ": mtime value")
        eq(a.st_nlink, 1, name + ": nlink")
    # ls -l agrees too (the user's view)
    r = subprocess.run(["ls", "-ln", "--time-style=+%s", m.mnt],
                       capture_output=True, text=True)
    eq(r.returncode, 0, "ls -ln status")
    check("123457" in r.stdout and "65534" in r.stdout,
          "ls -ln output lacks size/owner:\n" + r.stdout)


def test_non_regular_entries_hidden(m):
    H.write_file(m.shm_path("seg"), b"1")
    H.write_file(m.shm_path("sem.mysem"), b"\0" * 32)
    os.mkdir(m.shm_path("subdir"))
    os.symlink("seg", m.shm_path("link"))
    os.symlink("/etc/passwd", m.shm_path("evil"))
    os.mkfifo(m.shm_path("fifo"))
    s = socket.socket(socket.AF_UNIX)
    s.bind(m.shm_path("sock"))
    try:
        eq(os.listdir(m.mnt), ["seg"], "listing hides sem.*, dirs, symlinks, "
           "FIFOs, sockets")
        for n in ("sem.mysem", "subdir", "link", "evil", "fifo", "sock"):
            expect_errno(errno.ENOENT, os.lstat, m.path(n),
                         what="lstat of hidden %s" % n)
            expect_errno(errno.ENOENT, os.open, m.path(n), os.O_RDONLY,
                         what="open of hidden %s" % n)
    finally:
        s.close()


def test_readdir_many_entries(m):
    names = ["seg%05d" % i for i in range(3000)]
    for n in names:
        fd = os.open(m.shm_path(n), os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    eq(sorted(os.listdir(m.mnt)), names, "listing of 3000 segments")
    with os.scandir(m.mnt) as it:
        kinds = {e.name: e.is_file(follow_symlinks=False) for e in it}
    check(all(kinds.values()), "some entries not reported as regular files")


def test_lookup_missing_is_enoent(m):
    expect_errno(errno.ENOENT, os.stat, m.path("nothing"))
    expect_errno(errno.ENOENT, os.open, m.path("nothing"), os.O_RDONLY)
    expect_errno(errno.ENOENT, os.unlink, m.path("nothing"))


def test_name_max(m):
    n255, n256 = "a" * 255, "b" * 256
    fd = os.open(m.path(n255), os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    check(os.path.exists(m.shm_path(n255)), "255-byte name not created")
    os.stat(m.path(n255))
    expect_errno(errno.ENAMETOOLONG, os.open, m.path(n256),
                 os.O_CREAT | os.O_WRONLY, 0o600, what="create 256 bytes")
    expect_errno(errno.ENAMETOOLONG, os.stat, m.path(n256),
                 what="stat 256 bytes")
    expect_errno(errno.ENAMETOOLONG, os.rename, m.path(n255), m.path(n256),
                 what="rename to 256 bytes")
    expect_errno(errno.ENAMETOOLONG, os.unlink, m.path(n256),
                 what="unlink 256 bytes")
    eq(sorted(os.listdir(m.shm)), [n255], "nothing else created")


# ---------------------------------------------------------------------------
# Create


def test_create_open_o_creat_umask(m):
    old = os.umask(0o022)
    try:
        fd = os.open(m.path("c1"), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o666)
        os.write(fd, b"hello")
        os.close(fd)
        os.umask(0o077)
        fd = os.open(m.path("c2"), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o666)
        os.close(fd)
        os.umask(0o000)
        fd = os.open(m.path("c3"), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o666)
        os.close(fd)
    finally:
        os.umask(old)
    for n, mode in (("c1", 0o644), ("c2", 0o600), ("c3", 0o666)):
        st = os.stat(m.shm_path(n))
        check(stat.S_ISREG(st.st_mode), n + " is not a regular file")
        eq(oct(stat.S_IMODE(st.st_mode)), oct(mode), n + ": mode with umask")
        eq((st.st_uid, st.st_gid), (0, 0), n + ": owner")
        same_attrs(os.stat(m.path(n)), st, n)
    eq(H.read_file(m.shm_path("c1")), b"hello", "content of c1")
    expect_errno(errno.EEXIST, os.open, m.path("c1"),
                 os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600,
                 what="O_EXCL on an existing segment")


def test_create_touch_and_shell_redirect(m):
    r = H.sh("umask 027; touch %s && echo hi > %s" % (m.path("t"),
                                                       m.path("r")))
    eq(r.returncode, 0, "touch / > status: %r" % r.stderr)
    for n, content in (("t", b""), ("r", b"hi\n")):
        st = os.stat(m.shm_path(n))
        eq(oct(stat.S_IMODE(st.st_mode)), oct(0o640), n + ": mode")
        eq(H.read_file(m.shm_path(n)), content, n + ": content")
    # > on an existing segment truncates it
    r = H.sh("echo x > %s" % m.path("r"))
    eq(r.returncode, 0, "> on existing")
    eq(H.read_file(m.shm_path("r")), b"x\n", "truncated by >")


@H.mount_with(allow_other=True)
def test_create_by_root_with_other_gid_gets_that_gid(m):
    """A root caller whose gid is not 0 creates a segment with its gid, as
    shm_open() in the shm directory would."""
    r = subprocess.run(["setpriv", "--regid", "1234", "--clear-groups", "sh",
                        "-c", "echo x > '%s'" % m.path("g")],
                       capture_output=True, text=True)
    eq(r.returncode, 0, "create through the mount: %s" % r.stderr.strip())
    st = os.stat(m.shm_path("g"))
    eq((st.st_uid, st.st_gid), (0, 1234), "owner of the new segment")


@H.mount_with(allow_other=True)
def test_create_as_nobody_owned_by_nobody(m):
    os.chmod(m.shm, 0o1777)
    res = H.as_nobody('''
R["creat"] = t(lambda: os.close(os.open(%r, os.O_CREAT|os.O_EXCL|os.O_RDWR, 0o666)))
os.umask(0o077)
R["creat2"] = t(lambda: os.close(os.open(%r, os.O_CREAT|os.O_EXCL|os.O_RDWR, 0o666)))
''' % (m.path("nob1"), m.path("nob2")), umask=0o022)
    eq(res, {"creat": "ok", "creat2": "ok"}, "create as nobody")
    r = H.sh("umask 002; touch %s" % m.path("nob3"), user="nobody")
    eq(r.returncode, 0, "touch as nobody: %r" % r.stderr)
    for n, mode in (("nob1", 0o644), ("nob2", 0o600), ("nob3", 0o664)):
        st = os.stat(m.shm_path(n))
        eq((st.st_uid, st.st_gid), (H.NOBODY_UID, H.NOBODY_GID),
           n + ": owner (created by nobody)")
        eq(oct(stat.S_IMODE(st.st_mode)), oct(mode), n + ": mode")


def test_mknod_refused(m):
    """FIFOs, devices and sockets cannot be made (not segments)."""
    for what, mode in (("fifo", stat.S_IFIFO | 0o600),
                       ("chr", stat.S_IFCHR | 0o600),
                       ("sock", stat.S_IFSOCK | 0o600)):
        e = expect_errno((errno.EPERM, errno.EOPNOTSUPP, errno.EACCES,
                          errno.EINVAL), os.mknod, m.path(what), mode,
                         os.makedev(1, 3), what="mknod " + what)
        H.note("mknod %s: %s" % (what, e))
    eq(os.listdir(m.shm), [], "mknod created nothing")


# ---------------------------------------------------------------------------
# Refused operations


def test_mkdir_symlink_link_refused(m):
    H.write_file(m.shm_path("seg"), b"1")
    ok = (errno.EPERM, errno.EOPNOTSUPP, errno.EACCES)
    H.note("mkdir: " + expect_errno(ok, os.mkdir, m.path("d"), 0o755,
                                    what="mkdir"))
    H.note("symlink: " + expect_errno(ok, os.symlink, "seg", m.path("l"),
                                      what="symlink"))
    H.note("link: " + expect_errno(ok + (errno.EXDEV,), os.link,
                                   m.path("seg"), m.path("hard"),
                                   what="link"))
    eq(os.listdir(m.shm), ["seg"], "nothing created by refused operations")
    eq(os.stat(m.shm_path("seg")).st_nlink, 1, "nlink unchanged")
    # ENOSYS would say "not implemented", not what a user expects
    for n in ("d", "l", "hard"):
        check(not os.path.lexists(m.shm_path(n)), n + " exists")


# ---------------------------------------------------------------------------
# unlink, truncate, rename


def test_unlink(m):
    H.write_file(m.shm_path("u"), b"bye")
    os.stat(m.path("u"))
    os.unlink(m.path("u"))
    check(not os.path.exists(m.shm_path("u")), "segment still in shm dir")
    expect_errno(errno.ENOENT, os.stat, m.path("u"), what="stat after rm")
    eq(os.listdir(m.mnt), [], "listing after rm")
    r = H.sh("touch %s && rm %s" % (m.path("v"), m.path("v")))
    eq(r.returncode, 0, "touch+rm: %r" % r.stderr)
    eq(os.listdir(m.shm), [], "rm via shell")


def test_unlink_while_mapped_keeps_mapping(m):
    H.write_file(m.shm_path("um"), b"\0" * 4096)
    fd = os.open(m.path("um"), os.O_RDWR)
    mm = mmap.mmap(fd, 4096)
    os.close(fd)
    os.unlink(m.path("um"))
    mm[:5] = b"still"
    eq(mm[:5], b"still", "mapping usable after unlink")
    mm.close()
    check(not os.path.exists(m.shm_path("um")), "name gone")


def test_truncate_and_ftruncate(m):
    H.write_file(m.shm_path("t"), b"abcdef")
    os.truncate(m.path("t"), 3)
    eq(H.read_file(m.shm_path("t")), b"abc", "truncate shrink")
    os.truncate(m.path("t"), 10)
    eq(H.read_file(m.shm_path("t")), b"abc" + b"\0" * 7, "truncate grow")
    eq(os.stat(m.path("t")).st_size, 10, "size via mount")
    fd = os.open(m.path("t"), os.O_RDWR)
    os.ftruncate(fd, 1 << 20)
    eq(os.fstat(fd).st_size, 1 << 20, "fstat after ftruncate")
    eq(os.stat(m.shm_path("t")).st_size, 1 << 20, "real size after ftruncate")
    os.ftruncate(fd, 0)
    eq(os.stat(m.path("t")).st_size, 0, "ftruncate 0")
    os.close(fd)
    r = H.sh("truncate -s 5000 %s" % m.path("t"))
    eq(r.returncode, 0, "truncate(1)")
    eq(os.stat(m.shm_path("t")).st_size, 5000, "truncate(1) size")
    fd = os.open(m.path("t"), os.O_RDWR | os.O_TRUNC)
    os.close(fd)
    eq(os.stat(m.shm_path("t")).st_size, 0, "O_TRUNC")


def test_rename(m):
    H.write_file(m.shm_path("a"), b"AAA")
    H.write_file(m.shm_path("b"), b"BBB")
    os.rename(m.path("a"), m.path("c"))
    eq(sorted(os.listdir(m.shm)), ["b", "c"], "after rename a->c")
    eq(H.read_file(m.path("c")), b"AAA", "content follows the name")
    expect_errno(errno.ENOENT, os.stat, m.path("a"), what="old name gone")
    os.rename(m.path("c"), m.path("b"))   # replaces b
    eq(os.listdir(m.shm), ["b"], "rename over an existing segment")
    eq(H.read_file(m.path("b")), b"AAA", "replaced content")
    expect_errno(errno.ENOENT, os.rename, m.path("zz"), m.path("yy"),
                 what="rename of a missing name")


def test_rename_noreplace(m):
    H.write_file(m.shm_path("a"), b"AAA")
    H.write_file(m.shm_path("b"), b"BBB")
    expect_errno(errno.EEXIST, H.renameat2, m.path("a"), m.path("b"),
                 H.RENAME_NOREPLACE, what="RENAME_NOREPLACE onto existing")
    eq(H.read_file(m.shm_path("b")), b"BBB", "target untouched")
    eq(H.read_file(m.shm_path("a")), b"AAA", "source untouched")
    H.renameat2(m.path("a"), m.path("new"), H.RENAME_NOREPLACE)
    eq(sorted(os.listdir(m.shm)), ["b", "new"], "NOREPLACE to a free name")
    # RENAME_EXCHANGE is not in the spec: record what happens
    e = H.errno_of(H.renameat2, m.path("b"), m.path("new"),
                   H.RENAME_EXCHANGE)
    H.note("RENAME_EXCHANGE: %s" % ("ok" if e is None else H.ename(e)))
    if e is None:
        eq(H.read_file(m.shm_path("b")), b"AAA", "exchanged b")
    else:
        eq(H.read_file(m.shm_path("b")), b"BBB", "refused exchange left b")


def test_rename_over_directory_entry_in_shm_dir_refused(m):
    """A hidden non-regular entry must not be replaced by a rename."""
    H.write_file(m.shm_path("a"), b"AAA")
    os.mkdir(m.shm_path("dir"))
    e = H.errno_of(os.rename, m.path("a"), m.path("dir"))
    H.note("rename onto a hidden directory: %s" % (
        "ok" if e is None else H.ename(e)))
    check(os.path.isdir(m.shm_path("dir")), "hidden directory replaced")


# ---------------------------------------------------------------------------
# chmod, chown, utimens, statfs


def test_chmod(m):
    H.write_file(m.shm_path("p"), b"x", mode=0o600)
    for mode in (0o644, 0o400, 0o666, 0o600):
        os.chmod(m.path("p"), mode)
        eq(oct(stat.S_IMODE(os.stat(m.shm_path("p")).st_mode)), oct(mode),
           "real mode after chmod")
        eq(oct(stat.S_IMODE(os.stat(m.path("p")).st_mode)), oct(mode),
           "mount mode after chmod")


def test_chown(m):
    H.write_file(m.shm_path("o"), b"x")
    os.chown(m.path("o"), 65534, 65534)
    st = os.stat(m.shm_path("o"))
    eq((st.st_uid, st.st_gid), (65534, 65534), "real owner after chown")
    os.chown(m.path("o"), -1, 0)
    st = os.stat(m.shm_path("o"))
    eq((st.st_uid, st.st_gid), (65534, 0), "chown gid only")
    eq((os.stat(m.path("o")).st_uid, os.stat(m.path("o")).st_gid),
       (65534, 0), "owner via mount")


def test_utimens(m):
    H.write_file(m.shm_path("u"), b"x")
    os.utime(m.path("u"), ns=(1_000_000_001_111_111_111,
                              1_200_000_002_222_222_222))
    st = os.stat(m.shm_path("u"))
    eq(st.st_atime_ns, 1_000_000_001_111_111_111, "atime set")
    eq(st.st_mtime_ns, 1_200_000_002_222_222_222, "mtime set")
    eq(os.stat(m.path("u")).st_mtime_ns, 1_200_000_002_222_222_222,
       "mtime via mount")
    before = time.time()
    os.utime(m.path("u"))   # now
    st = os.stat(m.shm_path("u"))
    check(abs(st.st_mtime - before) < 5, "utime(now) mtime %f vs %f" % (
        st.st_mtime, before))
    r = H.sh("touch -d @1300000000 %s" % m.path("u"))
    eq(r.returncode, 0, "touch -d")
    eq(int(os.stat(m.shm_path("u")).st_mtime), 1300000000, "touch -d mtime")


def test_statfs_is_shm_dirs(m):
    a, b = os.statvfs(m.mnt), os.statvfs(m.shm)
    eq(a.f_bsize, b.f_bsize, "f_bsize")
    eq(a.f_blocks, b.f_blocks, "f_blocks")
    eq(a.f_files, b.f_files, "f_files")
    eq(a.f_namemax, 255, "f_namemax")
    check(abs(a.f_bfree - b.f_bfree) < 1024, "f_bfree %d vs %d" % (
        a.f_bfree, b.f_bfree))
    r = subprocess.run(["df", m.mnt], capture_output=True, text=True)
    eq(r.returncode, 0, "df on the mount")


# ---------------------------------------------------------------------------
# read / write / fsync


def test_read_write_fsync(m):
    fd = os.open(m.path("rw"), os.O_CREAT | os.O_RDWR, 0o600)
    eq(os.write(fd, b"hello world"), 11, "write count")
    os.fsync(fd)
    os.fdatasync(fd)
    eq(H.read_file(m.shm_path("rw")), b"hello world", "written bytes real")
    os.pwrite(fd, b"WORLD", 6)
    eq(os.pread(fd, 100, 0), b"hello WORLD", "pread after pwrite")
    os.pwrite(fd, b"!", 20)
    eq(H.read_file(m.shm_path("rw")), b"hello WORLD" + b"\0" * 9 + b"!",
       "sparse extension")
    os.close(fd)
    # the other way: written directly, read through the mount
    with open(m.shm_path("rw"), "r+b") as f:
        f.write(b"direct")
    eq(H.read_file(m.path("rw"))[:6], b"direct", "direct write seen")
    fd = os.open(m.path("rw"), os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"+tail")
    os.close(fd)
    check(H.read_file(m.shm_path("rw")).endswith(b"!+tail"), "O_APPEND")


def test_large_segment_read_write(m):
    size = 64 << 20
    data = os.urandom(1 << 20) * 64
    fd = os.open(m.path("big"), os.O_CREAT | os.O_RDWR, 0o600)
    os.ftruncate(fd, size)
    view = memoryview(data)
    off = 0
    while off < size:
        off += os.pwrite(fd, view[off:off + (4 << 20)], off)
    os.close(fd)
    check(H.read_file(m.shm_path("big")) == data, "64 MiB written via mount")
    check(H.read_file(m.path("big")) == data, "64 MiB read via mount")


def test_open_fd_sees_direct_growth(m):
    H.write_file(m.shm_path("g"), b"12345")
    fd = os.open(m.path("g"), os.O_RDONLY)
    eq(os.pread(fd, 100, 0), b"12345", "initial")
    with open(m.shm_path("g"), "ab") as f:
        f.write(b"6789")
    eq(os.pread(fd, 100, 0), b"123456789", "open mount fd reads bytes "
       "appended directly (no stale size)")
    os.close(fd)


# ---------------------------------------------------------------------------
# mmap through the mount = the real pages (passthrough)


def test_mmap_mount_write_seen_in_direct_mapping(m):
    size = 1 << 20
    H.write_file(m.shm_path("mm"), b"\0" * size)
    fdm = os.open(m.path("mm"), os.O_RDWR)
    fdd = os.open(m.shm_path("mm"), os.O_RDWR)
    mm_mount = mmap.mmap(fdm, size)
    mm_direct = mmap.mmap(fdd, size)
    os.close(fdm)
    os.close(fdd)
    try:
        for i in range(200):
            off = (i * 5209) % (size - 16)
            val = b"M%07d" % i
            mm_mount[off:off + 8] = val          # no msync
            eq(mm_direct[off:off + 8], val, "direct mapping sees mount write")
            val2 = b"D%07d" % i
            mm_direct[off + 8:off + 16] = val2
            eq(mm_mount[off + 8:off + 16], val2, "mount mapping sees direct "
               "write")
        # read(2) on both sides agrees with the mappings
        eq(H.read_file(m.shm_path("mm")), bytes(mm_mount), "read(2) direct")
        eq(H.read_file(m.path("mm")), bytes(mm_direct), "read(2) via mount")
    finally:
        mm_mount.close()
        mm_direct.close()


def test_mmap_mount_write_then_pwrite_direct(m):
    """Writes with write(2) on one side are seen in the other's mapping."""
    size = 65536
    H.write_file(m.shm_path("w"), b"\0" * size)
    fdm = os.open(m.path("w"), os.O_RDWR)
    mm_mount = mmap.mmap(fdm, size)
    fdd = os.open(m.shm_path("w"), os.O_RDWR)
    mm_direct = mmap.mmap(fdd, size)
    try:
        os.pwrite(fdd, b"direct-pwrite", 100)
        eq(mm_mount[100:113], b"direct-pwrite", "mount map sees direct pwrite")
        os.pwrite(fdm, b"mount-pwrite", 200)
        eq(mm_direct[200:212], b"mount-pwrite", "direct map sees mount pwrite")
        eq(mm_mount[200:212], b"mount-pwrite", "mount map sees mount pwrite")
    finally:
        mm_mount.close()
        mm_direct.close()
        os.close(fdm)
        os.close(fdd)


def test_mmap_two_mount_mappings_and_fork(m):
    size = 8192
    H.write_file(m.shm_path("f"), b"\0" * size)
    fd = os.open(m.path("f"), os.O_RDWR)
    mm = mmap.mmap(fd, size)
    os.close(fd)
    pid = os.fork()
    if pid == 0:
        try:
            fd2 = os.open(m.path("f"), os.O_RDWR)
            mm2 = mmap.mmap(fd2, size)
            mm2[0:5] = b"child"
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, st = os.waitpid(pid, 0)
    eq(os.waitstatus_to_exitcode(st), 0, "child status")
    eq(mm[0:5], b"child", "another process's mount mapping write seen")
    mm.close()


def test_passthrough_xattr_and_kind(m):
    H.write_file(m.shm_path("x"), b"x")
    eq(os.getxattr(m.path("x"), "user.shmfs.kind"), b"segment", "kind")
    eq(os.getxattr(m.path("x"), "user.shmfs.passthrough"), b"1",
       "passthrough as root on this kernel")
    names = os.listxattr(m.path("x"))
    for n in ("user.shmfs.kind", "user.shmfs.passthrough"):
        check(n in names, "%s not in listxattr %r" % (n, names))
    expect_errno((errno.ENODATA,), os.getxattr, m.path("x"),
                 "user.shmfs.type", what="type xattr on a plain segment")
    expect_errno((errno.ENODATA,), os.getxattr, m.path("x"),
                 "user.nonexistent", what="unknown xattr")


def test_root_stats_xattr_counts_live_objects(m):
    """user.shmfs.stats on the top level counts what the daemon holds, and
    every count goes back to 0 (the leak checks of issue 5 rely on it)."""
    check("user.shmfs.stats" in os.listxattr(m.mnt), "listxattr of the root")
    eq(H.daemon_stats(m.mnt), {"nodes": 0, "handles": 0, "open_files": 0,
                               "backing_ids": 0, "list_maps": 0},
       "fresh mount")
    H.write_file(m.shm_path("s"), b"x" * 100)
    data, _ = H.cpython_list_bytes([1, "x"])
    H.write_file(m.shm_path("l"), data)
    fd1 = os.open(m.path("s"), os.O_RDWR)
    fd2 = os.open(m.path("s"), os.O_RDONLY)
    dfd = os.open(m.path("l"), os.O_RDONLY | os.O_DIRECTORY)
    efd = os.open(m.path("l", "0"), os.O_RDONLY)
    try:
        st = H.daemon_stats(m.mnt)
        eq(st["open_files"], 1, "two opens of one segment share one fd")
        eq(st["backing_ids"], 1, "and one backing id")
        eq(st["handles"], 2, "the open folder and the open element file")
        eq(st["list_maps"], 1, "the list is mapped")
        eq(st["nodes"], 3, "segment, folder and element nodes")
    finally:
        for fd in (fd1, fd2, dfd, efd):
            os.close(fd)
    # close(2) does not wait for the RELEASE it sends (FUSE sends it in
    # the background), so the daemon may count an open file a moment
    # longer: on io_uring the getxattr below can overtake the RELEASE.
    def closed():
        st = H.daemon_stats(m.mnt)
        return (st["open_files"], st["backing_ids"], st["handles"])
    H.poll_until(lambda: closed() == (0, 0, 0), 2)
    eq(closed(), (0, 0, 0), "all closed (2 s after the last close)")
    os.unlink(m.path("s"))
    H.sh("rm -r %s" % m.path("l"))
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2")
    H.poll_until(lambda: H.daemon_stats(m.mnt)["nodes"] == 0 and
                 H.daemon_stats(m.mnt)["list_maps"] == 0, 10)
    eq(H.daemon_stats(m.mnt), {"nodes": 0, "handles": 0, "open_files": 0,
                               "backing_ids": 0, "list_maps": 0},
       "after unlink and the kernel forgot the inodes")


def _mapping_child(path):
    """Fork a child that maps @path and holds it until released; returns
    (pid, release) where release() ends the child and reaps it."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(path, os.O_RDWR)
            mm = mmap.mmap(fd, 0)
            os.close(fd)  # the mapping alone must count
            os.write(ready_w, b"1")
            os.read(go_r, 1)
            mm.close()
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    eq(os.read(ready_r, 1), b"1", "child mapped %s" % path)
    os.close(ready_r)

    def release():
        os.write(go_w, b"x")
        os.close(go_w)
        os.waitpid(pid, 0)
    return pid, release


def test_mappers_and_pids_xattrs(m):
    """user.shmfs.mappers / .pids: who maps a segment, through the mount or
    directly, computed when asked; the daemon itself never counts."""
    H.write_file(m.shm_path("u"), b"\0" * 8192)
    names = os.listxattr(m.path("u"))
    for n in ("user.shmfs.mappers", "user.shmfs.pids"):
        check(n in names, "%s not in listxattr %r" % (n, names))
    eq(os.getxattr(m.path("u"), "user.shmfs.mappers"), b"0", "no mapper yet")
    eq(os.getxattr(m.path("u"), "user.shmfs.pids"), b"", "no pid yet")
    fd = os.open(m.path("u"), os.O_RDONLY)  # open, not mapped: not a mapper
    try:
        eq(os.getxattr(m.path("u"), "user.shmfs.mappers"), b"0",
           "an open file is not a mapping")
    finally:
        os.close(fd)
    a, release_a = _mapping_child(m.path("u"))
    b, release_b = _mapping_child(m.shm_path("u"))
    try:
        eq(os.getxattr(m.path("u"), "user.shmfs.mappers"), b"2",
           "one child maps through the mount, one directly")
        eq(os.getxattr(m.path("u"), "user.shmfs.pids"),
           ("%d,%d" % tuple(sorted((a, b)))).encode(), "pids")
    finally:
        release_a()
        release_b()
    eq(os.getxattr(m.path("u"), "user.shmfs.mappers"), b"0",
       "children unmapped and exited")
    # A list folder reports the users of its segment.
    data, _ = H.cpython_list_bytes([1, "x"])
    H.write_file(m.shm_path("l"), data)
    c, release_c = _mapping_child(m.shm_path("l"))
    try:
        eq(os.getxattr(m.path("l"), "user.shmfs.mappers"), b"1",
           "list folder mappers")
        eq(os.getxattr(m.path("l"), "user.shmfs.pids"), b"%d" % c,
           "list folder pids")
    finally:
        release_c()
    expect_errno((errno.ENODATA,), os.getxattr, m.path("l", "0"),
                 "user.shmfs.mappers", what="mappers on an element file")


@H.timeout(120)
def test_passthrough_no_read_write_requests():
    """With passthrough, read/write/mmap never reach the daemon (-d log)."""
    with H.Mount(debug=True) as m:
        H.write_file(m.shm_path("p"), b"\0" * 65536)
        fd = os.open(m.path("p"), os.O_RDWR)
        for i in range(50):
            os.pwrite(fd, b"abcd", i * 100)
            os.pread(fd, 4, i * 100)
        mm = mmap.mmap(fd, 65536)
        mm[0:4] = b"zzzz"
        _ = mm[1000:2000]
        mm.close()
        os.close(fd)
        time.sleep(0.2)
        log = m.log_text()
        import re
        ops = re.findall(r"opcode: (READ|WRITE) ", log)
        eq(len(ops), 0, "READ/WRITE requests reached the daemon")
        eq(H.read_file(m.shm_path("p"))[:4], b"zzzz", "data written")


def _mount_for_nobody(m):
    """Mount m.shm at m.mnt for a daemon run by nobody: root opens
    /dev/fuse and mounts it (what fusermount3 does, but /dev/fuse may be
    0600 here), then the daemon gets the fd as its mountpoint /dev/fd/N."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/dev/fuse", os.O_RDWR)
    opts = ("fd=%d,rootmode=40000,user_id=0,group_id=0,default_permissions,"
            "allow_other" % fd).encode()
    MS_NOSUID, MS_NODEV = 2, 4
    if libc.mount(m.shm.encode(), m.mnt.encode(), b"fuse.shmfs",
                  MS_NOSUID | MS_NODEV, opts) != 0:
        e = ctypes.get_errno()
        os.close(fd)
        raise H.Skip("cannot mount /dev/fuse by hand: %s" % os.strerror(e))
    log = open(m.log_path, "ab")
    argv = H.nobody_argv([H.SHMFS, "--shm-dir", m.shm, "-f",
                          "/dev/fd/%d" % fd])
    log.write(("### %s\n" % " ".join(argv)).encode())
    log.flush()
    with H._lock:
        H._live_mounts.append(m)
        m.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=log, pass_fds=[fd])
    m.pid = m.proc.pid
    log.close()
    os.close(fd)


@H.timeout(120)
def test_passthrough_refused_daemon_keeps_working():
    """A daemon run by nobody has no CAP_SYS_ADMIN, so passthrough is
    refused: it says so once in its log, reports 0, and keeps working
    (read, write, mmap with msync, create, list folders)."""
    shm = H.new_shm_dir(0o755)
    os.chown(shm, H.NOBODY_UID, H.NOBODY_GID)
    D = os.path.join(shm, "seg")
    H.write_file(D, b"\0" * 8192)
    os.chown(D, H.NOBODY_UID, H.NOBODY_GID)
    H.make_list(shm, "L", [1, "x"])
    os.chown(os.path.join(shm, "L"), H.NOBODY_UID, H.NOBODY_GID)
    m = H.Mount(shm_dir=shm, start=False)
    _mount_for_nobody(m)
    try:
        P = m.path("seg")
        for _ in range(20):
            os.close(os.open(P, os.O_RDONLY))
        eq(os.getxattr(P, "user.shmfs.passthrough"), b"0",
           "passthrough xattr of a daemon without CAP_SYS_ADMIN")
        eq(os.getxattr(P, "user.shmfs.kind"), b"segment", "kind")
        fd = os.open(P, os.O_RDWR)
        try:
            os.pwrite(fd, b"written", 0)
            eq(H.read_file(D)[:7], b"written", "write(2) reaches the segment")
            mm = mmap.mmap(fd, 8192)
            mm[100:105] = b"mmap!"
            mm.flush()
            eq(H.read_file(D)[100:105], b"mmap!", "mmap + msync reaches the "
               "segment")
            mm.close()
        finally:
            os.close(fd)
        with open(D, "r+b") as f:
            f.seek(200)
            f.write(b"back")
        ok, _ = H.poll_until(lambda: H.read_file(P)[200:204] == b"back", 2)
        check(ok, "read(2) through the mount sees a direct write")
        ok, _ = H.poll_until(lambda: os.path.isdir(m.path("L")), 2)
        check(ok, "list folder without passthrough")
        eq(H.sh("echo 5 > %s" % m.path("L", "0")).returncode, 0, "echo 5")
        eq(H.read_file(m.path("L", "0")), b"5\n", "element")
        log = m.log_text()
        n = len([ln for ln in log.splitlines()
                 if "passthrough" in ln.lower() and not ln.startswith("###")])
        eq(n, 1, "passthrough refusal logged exactly once:\n" +
           m.log_tail(10))
        m.stop()
    finally:
        m.stop(check=False)


def test_passthrough_refused_reported_before_first_open():
    """The mode is reported truthfully from the start, not only once the
    first open has found out."""
    shm = H.new_shm_dir(0o755)
    os.chown(shm, H.NOBODY_UID, H.NOBODY_GID)
    H.write_file(os.path.join(shm, "seg"), b"x")
    m = H.Mount(shm_dir=shm, start=False)
    _mount_for_nobody(m)
    try:
        eq(os.getxattr(m.path("seg"), "user.shmfs.passthrough"), b"0",
           "passthrough xattr before any open (daemon without "
           "CAP_SYS_ADMIN)")
        m.stop()
    finally:
        m.stop(check=False)


# ---------------------------------------------------------------------------
# An open file whose name went away


def fstat_size_is(fd, size, what):
    try:
        st = os.fstat(fd)
    except OSError as e:
        raise H.TestFailure("%s: failed with %s" % (what, H.ename(e.errno)))
    eq(st.st_size, size, what + ": size")


def test_fstat_and_ftruncate_after_unlink_through_mount(m):
    """fstat() of an open file unlinked through the mount is answered from
    the open file, not by name (the name is gone: not ENOENT)."""
    fd = os.open(m.path("gone"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        os.write(fd, b"x" * 1000)
        os.unlink(m.path("gone"))
        check(not os.path.exists(m.shm_path("gone")), "name still there")
        fstat_size_is(fd, 1000, "fstat right after the unlink")
        time.sleep(1.2)                       # past the attribute timeout
        fstat_size_is(fd, 1000, "fstat 1.2 s after the unlink")
        os.ftruncate(fd, 300)
        fstat_size_is(fd, 300, "fstat after ftruncate")
        eq(os.pread(fd, 400, 0), b"x" * 300, "pread after ftruncate")
    finally:
        os.close(fd)


def test_fstat_and_ftruncate_after_rename_in_shm_dir(m):
    """The segment is renamed directly in the shm dir while open through
    the mount: fstat and ftruncate still reach it."""
    H.write_file(m.shm_path("before"), b"y" * 1000)
    fd = os.open(m.path("before"), os.O_RDWR)
    try:
        os.rename(m.shm_path("before"), m.shm_path("after"))
        time.sleep(1.2)                       # past the attribute timeout
        fstat_size_is(fd, 1000, "fstat 1.2 s after a direct rename")
        os.ftruncate(fd, 300)
        fstat_size_is(fd, 300, "fstat after ftruncate")
        eq(os.stat(m.shm_path("after")).st_size, 300,
           "real size after ftruncate")
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------
# fd and backing-id leaks



@H.timeout(240)
def test_open_close_cycles_no_fd_leak(m):
    cycles = int(os.environ.get("SHMFS_TEST_CYCLES", "20000"))
    for i in range(8):
        H.write_file(m.shm_path("c%d" % i), b"x" * 100)
    fd = os.open(m.path("c0"), os.O_RDONLY)
    os.close(fd)
    time.sleep(0.2)
    base = H.fd_count(m.pid)
    t0 = time.monotonic()
    for i in range(cycles):
        fd = os.open(m.path("c%d" % (i % 8)),
                     os.O_RDWR if i % 2 else os.O_RDONLY)
        try:
            if i % 1000 == 1:
                mm = mmap.mmap(fd, 100)
                mm.close()
        finally:
            os.close(fd)
    dt = time.monotonic() - t0
    # RELEASE is asynchronous: give it a moment
    now, _ = H.poll_until(lambda: H.fd_count(m.pid) <= base + 2 or None, 3)
    after = H.fd_count(m.pid)
    H.note("%d cycles in %.1f s (%.1f us each); daemon fds %d -> %d" % (
        cycles, dt, dt / cycles * 1e6, base, after))
    check(after <= base + 2, "daemon fd count grew from %d to %d" % (
        base, after))
    # and with many files open at once, all released afterwards
    fds = [os.open(m.path("c%d" % (i % 8)), os.O_RDONLY) for i in range(200)]
    for f in fds:
        os.close(f)
    H.poll_until(lambda: H.fd_count(m.pid) <= base + 2 or None, 3)
    check(H.fd_count(m.pid) <= base + 2, "fds not released after 200 "
          "concurrent opens: %d -> %d" % (base, H.fd_count(m.pid)))


def test_unlinked_open_file_released(m):
    """A backing file for a segment unlinked while open is released after
    the last close (no fd left in the daemon)."""
    time.sleep(0.1)
    base = H.fd_count(m.pid)
    for i in range(100):
        p = m.path("t%d" % i)
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o600)
        os.write(fd, b"abc")
        os.unlink(p)
        eq(os.pread(fd, 3, 0), b"abc", "read after unlink")
        os.close(fd)
    H.poll_until(lambda: H.fd_count(m.pid) <= base + 2 or None, 3)
    check(H.fd_count(m.pid) <= base + 2, "daemon fds grew %d -> %d" % (
        base, H.fd_count(m.pid)))
    eq(os.listdir(m.shm), [], "all unlinked")


HOLDER = r"""
import os, resource, sys
paths, copies = sys.argv[1:-1], int(sys.argv[-1])
need = len(paths) * copies + 100
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < need:
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
fds, err = [], None
try:
    for _ in range(copies):
        for p in paths:
            fds.append(os.open(p, os.O_RDONLY if len(fds) % 2 else os.O_RDWR))
except OSError as e:
    err = e.strerror
print(len(fds), err, flush=True)
sys.stdin.read()          # hold them until told; exit without closing
"""


def _hold_open(paths, copies):
    """A process that opens each path `copies` times and holds the fds
    until _release(); returns (process, fds opened, error or None)."""
    p = subprocess.Popen([sys.executable, "-c", HOLDER] + list(paths) +
                         [str(copies)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split(None, 1)
    return p, int(line[0]), line[1].strip()


def _release(p):
    p.stdin.close()           # the holder exits with every fd still open
    p.wait(timeout=30)


def _daemon_fds_while_held(m, paths, times, what):
    """Have a child open each of @paths @times times and exit holding them;
    returns (opened, first error, daemon fds before, while held, after)."""
    time.sleep(0.2)
    base = H.fd_count(m.pid)
    p, opened, err = _hold_open(paths, times)
    try:
        held = H.fd_count(m.pid)
    finally:
        _release(p)
    H.poll_until(lambda: H.fd_count(m.pid) <= base or None, 3)
    after = H.fd_count(m.pid)
    H.note("%s: %d opened (%s); daemon fds %d -> %d, %d after the holder "
           "exited" % (what, opened, err, base, held, after))
    return opened, err, base, held, after


@H.timeout(120)
def test_many_opens_of_one_segment_share_one_daemon_fd(m):
    """One process holding 2000 fds on the same mount file must not cost
    the daemon 2000 fds (a user could exhaust the daemon's fd table and
    deny service to everyone); when it exits, every fd is released."""
    H.write_file(m.shm_path("one"), b"x" * 100, mode=0o644)
    os.close(os.open(m.path("one"), os.O_RDONLY))
    opened, err, base, held, after = _daemon_fds_while_held(
        m, [m.path("one")], 2000, "2000 opens of one segment")
    eq(opened, 2000, "opens of one segment (first error %s)" % err)
    check(held <= base + 4, "the daemon holds %d fds for 2000 opens of "
          "one segment (from %d)" % (held, base))
    eq(after, base, "daemon fds after the holder exited")


@H.timeout(120)
def test_exit_of_process_holding_many_files_releases_daemon_fds(m):
    """300 segments, each open 3 times by one process that then exits
    without closing: the daemon's fd count returns to where it started."""
    paths = []
    for i in range(300):
        H.write_file(m.shm_path("s%d" % i), b"s")
        paths.append(m.path("s%d" % i))
    os.listdir(m.mnt)
    opened, err, base, held, after = _daemon_fds_while_held(
        m, paths, 3, "900 opens of 300 segments")
    eq(opened, 900, "opens (first error %s)" % err)
    check(held <= base + 300 + 4, "the daemon holds %d fds for 300 open "
          "segments (from %d)" % (held, base))
    eq(after, base, "daemon fds after the holder exited")


if __name__ == "__main__":
    H.run(globals())
