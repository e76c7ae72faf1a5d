#!/usr/bin/python3
"""test_safety.py - issue 3, "Safety".

    test_safety.py SHMFS [TEST-NAME-SUBSTRING ...]

Run as root with allow_other, the mount must never let a second user
(nobody, via setpriv) do what it could not do on the shm directory itself:
each permission test runs the same operations as nobody on the real files
and on the mount and compares.  Also: symlinks in the shm dir are never
followed (also when one replaces a file between lookup and open), a FIFO
swapped in never blocks the daemon, a full tmpfs is ENOSPC, and SIGKILL of
the daemon loses nothing (data, running mappings, a remount shows all).
"""
import errno
import json
import mmap
import os
import signal
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shmfs_harness as H  # noqa: E402
from shmfs_harness import check, eq, expect_errno  # noqa: E402

DENIED = ("EACCES", "EPERM")

# Operations nobody tries on one segment (path P), reported as errno names.
NOBODY_OPS = r'''
def ops(P, tag):
    R[tag + "read"] = t(rd, P)
    R[tag + "write"] = t(wr, P, b"pwned")
    R[tag + "open_rdwr"] = t(lambda: os.close(os.open(P, os.O_RDWR)))
    R[tag + "truncate"] = t(os.truncate, P, 0)
    R[tag + "chmod"] = t(os.chmod, P, 0o666)
    R[tag + "chown"] = t(os.chown, P, 65534, 65534)
    R[tag + "utime_set"] = t(os.utime, P, (1, 1))
    R[tag + "utime_now"] = t(os.utime, P)
    R[tag + "rename"] = t(os.rename, P, P + ".moved")
    R[tag + "unlink"] = t(os.unlink, P)
'''


def _compare_nobody(m, name, what):
    """Run NOBODY_OPS as nobody on the real segment, then on the mount
    (restoring the segment in between); return the mount's results."""
    real, via = m.shm_path(name), m.path(name)
    snap = (H.read_file(real), os.stat(real))

    def restore():
        if os.path.exists(real + ".moved"):
            os.rename(real + ".moved", real)
        if not os.path.exists(real):
            H.write_file(real, snap[0])
        with open(real, "r+b") as f:
            f.truncate(0)
            f.write(snap[0])
        os.chmod(real, stat.S_IMODE(snap[1].st_mode))
        os.chown(real, snap[1].st_uid, snap[1].st_gid)
    direct = H.as_nobody(NOBODY_OPS + "ops(%r, '')" % real)
    restore()
    mounted = H.as_nobody(NOBODY_OPS + "ops(%r, '')" % via)
    after = (H.read_file(real), os.stat(real))
    restore()
    for k in direct:
        check(not (direct[k] != "ok" and mounted[k] == "ok"),
              "%s: nobody can %s through the mount (directly: %s)" % (
                  what, k, direct[k]))
    H.note("%s: direct %s" % (what, direct))
    if direct != mounted:
        H.note("%s: mount  %s" % (what, mounted))
    return direct, mounted, after


@H.mount_with(allow_other=True)
def test_nobody_refused_on_0600_root_segment(m):
    os.chmod(m.shm, 0o1777)
    H.write_file(m.shm_path("secret"), b"root only", mode=0o600)
    direct, mounted, after = _compare_nobody(m, "secret", "0600 root segment")
    for op in ("read", "write", "open_rdwr", "truncate", "chmod", "chown",
               "utime_set", "utime_now", "rename", "unlink"):
        check(mounted[op] in DENIED, "nobody's %s on a 0600 root segment "
              "through the mount: %s" % (op, mounted[op]))
    eq(after[0], b"root only", "content untouched")
    eq(stat.S_IMODE(after[1].st_mode), 0o600, "mode untouched")


@H.mount_with(allow_other=True)
def test_nobody_can_read_0644_but_not_write(m):
    os.chmod(m.shm, 0o1777)
    H.write_file(m.shm_path("pub"), b"public", mode=0o644)
    direct, mounted, after = _compare_nobody(m, "pub", "0644 root segment")
    eq(mounted["read"], "ok", "nobody reads a 0644 segment")
    for op in ("write", "open_rdwr", "truncate", "chmod", "unlink"):
        check(mounted[op] in DENIED, "nobody's %s on a 0644 root segment: %s"
              % (op, mounted[op]))
    eq(after[0], b"public", "content untouched")


@H.mount_with(allow_other=True)
def test_nobody_full_rights_on_own_segment(m):
    """Positive control: nobody's own segment is fully usable."""
    os.chmod(m.shm, 0o1777)
    H.write_file(m.shm_path("mine"), b"mine", mode=0o600)
    os.chown(m.shm_path("mine"), H.NOBODY_UID, H.NOBODY_GID)
    res = H.as_nobody(r'''
P = %r
R["read"] = t(rd, P)
R["write"] = t(wr, P, b"MINE")
R["chmod"] = t(os.chmod, P, 0o640)
R["utime"] = t(os.utime, P, (1, 1))
R["unlink"] = t(os.unlink, P)
''' % m.path("mine"))
    eq(res, {"read": "ok", "write": "ok", "chmod": "ok", "utime": "ok",
             "unlink": "ok"}, "nobody on its own segment")
    check(not os.path.exists(m.shm_path("mine")), "unlinked")


@H.mount_with(allow_other=True)
def test_setid_bits_cleared_by_unprivileged_truncate_and_write(m):
    """The mount leaves clearing set-ID bits to the daemon (killpriv v2):
    truncate, O_TRUNC and chown by an unprivileged caller clear them, as on
    the shm directory itself; root (CAP_FSETID) keeps them."""
    os.chmod(m.shm, 0o1777)
    for what in ("truncate", "o_trunc", "append"):
        H.write_file(m.shm_path(what), b"x" * 64, mode=0o6777)
        os.chmod(m.shm_path(what), 0o6777)
    res = H.as_nobody(r'''
R["truncate"] = t(os.truncate, %r, 10)
R["o_trunc"] = t(lambda p: os.close(os.open(p, os.O_WRONLY | os.O_TRUNC)), %r)
R["append"] = t(wr, %r, b"y")
''' % (m.path("truncate"), m.path("o_trunc"), m.path("append")))
    eq(res, {"truncate": "ok", "o_trunc": "ok", "append": "ok"},
       "nobody truncates or writes a 6777 file")
    for what in ("truncate", "o_trunc", "append"):
        eq(oct(os.stat(m.shm_path(what)).st_mode & 0o7777), oct(0o777),
           "set-ID bits after %s by nobody" % what)
    H.write_file(m.shm_path("root"), b"x" * 64, mode=0o6777)
    os.chmod(m.shm_path("root"), 0o6777)
    os.truncate(m.path("root"), 10)
    eq(oct(os.stat(m.shm_path("root")).st_mode & 0o7777), oct(0o6777),
       "set-ID bits after a truncate by root")


@H.mount_with(allow_other=True)
def test_nobody_cannot_edit_0600_list(m):
    os.chmod(m.shm, 0o1777)
    H.make_list(m.shm, "L", [7, "abcd", 2.5], mode=0o600)
    ok, _ = H.poll_until(lambda: os.path.isdir(m.path("L")), 2)
    check(ok, "list is a folder")
    res = H.as_nobody(r'''
D = %r
R["cat"] = t(rd, D + "/0")
R["write"] = t(wr, D + "/0", b"42\n")
R["raw_read"] = t(rd, D + "/.raw")
R["raw_write"] = t(wr, D + "/.raw", b"x")
R["listdir"] = t(os.listdir, D)
R["rmdir"] = t(os.rmdir, D)
R["xattr"] = t(os.getxattr, D + "/0", "user.shmfs.type")
''' % m.path("L"))
    H.note("nobody on a 0600 list: %s" % res)
    for k in ("cat", "write", "raw_read", "raw_write", "rmdir"):
        check(res[k] in DENIED, "nobody's %s on a 0600 list: %s" % (k, res[k]))
    r = H.sh("echo 42 > %s/0" % m.path("L"), user="nobody")
    check(r.returncode != 0, "echo 42 as nobody: $? is 0")
    r = H.sh("rm -rf %s" % m.path("L"), user="nobody")
    check(os.path.exists(m.shm_path("L")), "nobody's rm -rf destroyed the "
          "list")
    eq(H.read_file(m.path("L", "0")), b"7\n", "element unchanged")


@H.mount_with(allow_other=True)
def test_nobody_can_read_0644_list_not_edit(m):
    os.chmod(m.shm, 0o1777)
    H.make_list(m.shm, "P", [7, "abcd"], mode=0o644)
    H.poll_until(lambda: os.path.isdir(m.path("P")), 2)
    res = H.as_nobody(r'''
D = %r
R["cat"] = t(rd, D + "/0")
R["write"] = t(wr, D + "/0", b"42\n")
R["listdir"] = t(os.listdir, D)
''' % m.path("P"))
    eq(res["cat"], "ok", "nobody cats a 0644 list element")
    check(res["write"] in DENIED, "nobody writes a 0644 list: %s" %
          res["write"])
    eq(H.read_file(m.path("P", "0")), b"7\n", "unchanged")


@H.mount_with(allow_other=True)
def test_nobody_can_edit_own_list(m):
    os.chmod(m.shm, 0o1777)
    H.make_list(m.shm, "N", [7, "abcd"], mode=0o600)
    os.chown(m.shm_path("N"), H.NOBODY_UID, H.NOBODY_GID)
    H.poll_until(lambda: os.path.isdir(m.path("N")), 2)
    r = H.sh("echo 42 > %s/0 && cat %s/0" % (m.path("N"), m.path("N")),
             user="nobody")
    eq((r.returncode, r.stdout), (0, b"42\n"), "nobody edits its own list "
       "(%r)" % r.stderr)


@H.mount_with(allow_other=True)
def test_sticky_dir_nobody_cannot_unlink_others(m):
    os.chmod(m.shm, 0o1777)
    H.write_file(m.shm_path("roots"), b"r", mode=0o666)
    H.write_file(m.shm_path("users"), b"u", mode=0o666)
    os.chown(m.shm_path("users"), 12345, 12345)
    H.write_file(m.shm_path("own"), b"o", mode=0o600)
    os.chown(m.shm_path("own"), H.NOBODY_UID, H.NOBODY_GID)
    H.make_list(m.shm, "rlist", [1], mode=0o666)
    H.poll_until(lambda: os.path.isdir(m.path("rlist")), 2)
    res = H.as_nobody(r'''
M = %r
R["roots"] = t(os.unlink, M + "/roots")
R["users"] = t(os.unlink, M + "/users")
R["rename_roots"] = t(os.rename, M + "/roots", M + "/stolen")
R["replace_users"] = t(os.rename, M + "/own", M + "/users")
R["rlist"] = t(os.rmdir, M + "/rlist")
R["write_roots"] = t(wr, M + "/roots", b"W")
R["own"] = t(os.unlink, M + "/own")
''' % m.mnt)
    H.note("sticky dir as nobody: %s" % res)
    for k in ("roots", "users", "rename_roots", "replace_users", "rlist"):
        check(res[k] in DENIED, "sticky dir: nobody's %s: %s" % (k, res[k]))
    eq(res["write_roots"], "ok", "0666 segment is writable by nobody")
    eq(res["own"], "ok", "nobody unlinks its own segment")
    for n in ("roots", "users", "rlist"):
        check(os.path.exists(m.shm_path(n)), n + " was removed")


@H.mount_with(allow_other=True)
def test_nobody_cannot_create_in_0755_shm_dir(m):
    os.chmod(m.shm, 0o755)
    res = H.as_nobody(r'''
R["create"] = t(lambda: os.close(os.open(%r, os.O_CREAT|os.O_WRONLY, 0o600)))
''' % m.path("x"))
    check(res["create"] in DENIED, "create as nobody in a 0755 root dir: %s"
          % res["create"])
    eq(os.listdir(m.shm), [], "nothing created")


def test_without_allow_other_nobody_refused(m):
    H.write_file(m.shm_path("pub"), b"p", mode=0o644)
    res = H.as_nobody(r'''
R["stat"] = t(os.stat, %r)
R["listdir"] = t(os.listdir, %r)
''' % (m.path("pub"), m.mnt))
    check(res["stat"] in DENIED, "stat as nobody without allow_other: %s" %
          res["stat"])
    check(res["listdir"] in DENIED, "listdir as nobody without allow_other: "
          "%s" % res["listdir"])


# ---------------------------------------------------------------------------
# A root-only mount (no allow_other) has no default_permissions: the daemon
# checks permissions itself (fs/cred.c).  Every process the kernel lets in
# runs as root, but it may lack capabilities, have another fs uid, or other
# groups: through the mount it must get exactly what it gets directly.

GROUP = 4242

# (name, mode, uid, gid) of the files each run starts from.
ROOT_ONLY_FILES = [
    ("nob600", 0o600, H.NOBODY_UID, H.NOBODY_GID),
    ("nob644", 0o644, H.NOBODY_UID, H.NOBODY_GID),
    ("nob666", 0o666, H.NOBODY_UID, H.NOBODY_GID),
    ("nob700", 0o700, H.NOBODY_UID, H.NOBODY_GID),
    ("nob711", 0o711, H.NOBODY_UID, H.NOBODY_GID),  # runs, cannot be read
    ("nob744", 0o744, H.NOBODY_UID, H.NOBODY_GID),  # read, not run
    ("grp060", 0o060, H.NOBODY_UID, GROUP),
    ("grp604", 0o604, H.NOBODY_UID, GROUP),
    ("own600", 0o600, 0, 0),
    ("own000", 0o000, 0, 0),
    ("own700", 0o700, 0, 0),
    ("own2660", 0o2660, 0, GROUP),  # chmod outside the group drops S_ISGID
    ("own4766", 0o4766, 0, 0),  # a write without CAP_FSETID drops S_ISUID
]
ROOT_ONLY_LISTS = [("L600", 0o600, H.NOBODY_UID), ("L644", 0o644, H.NOBODY_UID),
                   ("Lown", 0o600, 0)]

# Run in the caller: ops(D, pre, mounted) on the files pre + name of
# folder D.  Lists are folders through the mount and files directly: what
# a folder allows is compared with what its segment allows.
ROOT_ONLY_OPS = r'''
def run(P):
    """exec P: raises OSError if exec(2) fails; the script itself (sh
    reading it) may then fail too: "ok" or "exit N"."""
    rc = subprocess.run([P], stderr=subprocess.DEVNULL).returncode
    if rc:
        raise OSError(1000 + rc, "exit " + str(rc))
def ftrunc(P):
    fd = os.open(P, os.O_WRONLY)
    try:
        os.ftruncate(fd, 8)
    finally:
        os.close(fd)
def f_ops(P, k):
    R[k + "stat"] = t(os.stat, P)
    for a, m in (("r", os.R_OK), ("w", os.W_OK), ("x", os.X_OK)):
        R[k + "access_" + a] = str(os.access(P, m))
    R[k + "exec"] = t(run, P)
    if R[k + "stat"] != "ok":
        return
    st = os.stat(P)
    R[k + "read"] = t(rd, P)
    R[k + "write"] = t(wr, P, b"#")
    R[k + "open_rdwr"] = t(lambda: os.close(os.open(P, os.O_RDWR)))
    R[k + "open_trunc"] = t(lambda: os.close(os.open(P, os.O_RDONLY |
                                                     os.O_TRUNC)))
    R[k + "ftruncate"] = t(ftrunc, P)
    R[k + "truncate"] = t(os.truncate, P, 8)
    R[k + "mode_after_write"] = oct(os.stat(P).st_mode)
    R[k + "chmod_same"] = t(os.chmod, P, S.S_IMODE(st.st_mode))
    R[k + "mode_after"] = oct(os.stat(P).st_mode)
    R[k + "chown_same"] = t(os.chown, P, st.st_uid, -1)
    R[k + "chgrp"] = t(os.chown, P, -1, %(group)d)
    R[k + "chgrp_nonmember"] = t(os.chown, P, -1, 7777)
    R[k + "mode_after_chown"] = oct(os.stat(P).st_mode)
    R[k + "chown_other"] = t(os.chown, P, 12345, -1)
    R[k + "utime_set"] = t(os.utime, P, (1, 1))
    R[k + "utime_now"] = t(os.utime, P)
    R[k + "chmod_other"] = t(os.chmod, P, 0o640)
def ops(D, pre, mounted):
    R["listdir"] = t(os.listdir, D)
    for n in %(files)r:
        f_ops(D + "/" + pre + n, n + ".")
    for n in %(lists)r:
        P = D + "/" + pre + n
        if mounted:
            R[n + ".read"] = t(rd, P + "/0")
            R[n + ".list"] = t(os.listdir, P)
            R[n + ".raw"] = t(rd, P + "/.raw")
            R[n + ".write"] = t(wr, P + "/0", b"5\n")
            R[n + ".xattr"] = t(os.getxattr, P + "/0", "user.shmfs.type")
            R[n + ".stat"] = t(os.stat, P + "/0")
        else:
            R[n + ".read"] = R[n + ".list"] = R[n + ".raw"] = t(rd, P)
            R[n + ".write"] = t(wr, P, b"\x01")
            R[n + ".xattr"] = "ok" if R[n + ".read"] == "ok" else "EACCES"
            # an element: search permission on the folder (read on the
            # segment) and the way to the folder
            st = t(os.stat, P)
            R[n + ".stat"] = st if st != "ok" else R[n + ".xattr"]
    R["create"] = t(lambda: os.close(os.open(D + "/" + pre + "new",
                                      os.O_CREAT | os.O_EXCL | os.O_WRONLY)))
    R["unlink_nob"] = t(os.unlink, D + "/" + pre + "nob666")
    R["unlink_own"] = t(os.unlink, D + "/" + pre + "own600")
    R["rename_own"] = t(os.rename, D + "/" + pre + "own000",
                        D + "/" + pre + "own000.b")
    R["rename_over_nob"] = t(os.rename, D + "/" + pre + "own700",
                             D + "/" + pre + "nob700")
    R["remove_list"] = t(os.rmdir if mounted else os.unlink,
                         D + "/" + pre + "L644")
''' % {"group": GROUP, "files": [f[0] for f in ROOT_ONLY_FILES],
         "lists": [x[0] for x in ROOT_ONLY_LISTS]}


def _root_only_fixture(m, pre):
    for name, mode, uid, gid in ROOT_ONLY_FILES:
        p = m.shm_path(pre + name)
        H.write_file(p, b"#!/bin/sh\nexit 0\n", mode=mode)
        os.chown(p, uid, gid)
        os.chmod(p, mode)
    for name, mode, uid in ROOT_ONLY_LISTS:
        H.make_list(m.shm, pre + name, [7, "abc"], mode=mode)
        os.chown(m.shm_path(pre + name), uid, uid)


def _compare_root_caller(m, who, wrap, prelude=""):
    """Run ROOT_ONLY_OPS as a root caller (argv wrapper wrap) on fresh
    files in the shm directory, then on fresh copies through the mount:
    every result must be the same."""
    d, v = H.new_name("d") + "_", H.new_name("v") + "_"
    _root_only_fixture(m, d)
    _root_only_fixture(m, v)
    for name, _, _ in ROOT_ONLY_LISTS:
        ok, _ = H.poll_until(lambda: os.path.isdir(m.path(v + name)), 2)
        check(ok, "%s is a folder" % name)
        os.stat(m.path(v + name, "0"))  # cached: the caller's is a getattr
    # (Everything imported before the prelude changes who the caller is.)
    code = "import stat as S, subprocess\n" + prelude + ROOT_ONLY_OPS
    direct = H.python_as(wrap, who, code + "ops(%r, %r, False)" % (m.shm, d))
    mounted = H.python_as(wrap, who, code + "ops(%r, %r, True)" % (m.mnt, v))
    H.note("%s: %s" % (who, sorted(k for k, x in direct.items()
                                   if x not in ("ok", "True"))))
    for k in sorted(direct):
        eq(mounted.get(k), direct[k], "%s: %s through the mount (direct, "
           "then mounted)" % (who, k))
    return direct


def _setpriv(*args):
    return lambda argv: ["setpriv"] + list(args) + ["--"] + argv


def _root_with_only(*caps):
    """Root with no supplementary groups and only @caps (none by
    default), as a wrapper for _compare_root_caller()."""
    return _setpriv("--clear-groups",
                    "--bounding-set=-all" + "".join(",+" + c for c in caps))


def test_root_only_mount_checks_root_without_capabilities(m):
    os.chmod(m.shm, 0o1777)
    res = _compare_root_caller(m, "root without capabilities",
                               _root_with_only())
    eq((res["nob600.read"], res["nob600.chmod_same"], res["unlink_nob"],
        res["own600.read"], res["own2660.mode_after"], res["nob744.exec"],
        res["nob711.exec"] in ("ok", "EACCES"),
        res["own4766.mode_after_write"]),
       ("EACCES", "EPERM", "ok", "ok", oct(0o100660), "EACCES", False,
        oct(0o100766)),
       "what root without capabilities may do (directly; the sticky shm "
       "dir is root's)")


def test_root_only_mount_checks_groups(m):
    os.chmod(m.shm, 0o1777)
    res = _compare_root_caller(m, "root in group %d without capabilities"
                               % GROUP, _setpriv("--groups=%d" % GROUP,
                                                 "--bounding-set=-all"))
    # The group's bits, not the others', once in the group (0604).
    eq((res["grp060.read"], res["grp604.read"], res["own600.chgrp"]),
       ("ok", "EACCES", "ok"), "root in the group (directly)")


def test_root_only_mount_checks_each_capability(m):
    os.chmod(m.shm, 0o1777)
    res = _compare_root_caller(m, "root with only DAC_READ_SEARCH",
                               _root_with_only("dac_read_search"))
    eq((res["nob600.read"], res["nob600.write"]), ("ok", "EACCES"),
       "DAC_READ_SEARCH reads, does not write")
    res = _compare_root_caller(m, "root with only FOWNER and CHOWN",
                               _root_with_only("fowner", "chown"))
    eq((res["nob600.read"], res["nob600.chmod_same"],
        res["nob600.chown_same"], res["unlink_nob"]),
       ("EACCES", "ok", "ok", "ok"), "FOWNER and CHOWN: owner's rights")
    res = _compare_root_caller(m, "root with only DAC_OVERRIDE",
                               _root_with_only("dac_override"))
    eq((res["nob600.write"], res["own000.read"], res["own000.exec"]),
       ("ok", "ok", "EACCES"), "DAC_OVERRIDE: all but exec without x bits")


def test_root_only_mount_checks_other_fs_uid(m):
    """A root process whose fs uid and gid are nobody's (setfsuid(2))."""
    os.chmod(m.shm, 0o1777)
    prelude = r'''
import ctypes
_libc = ctypes.CDLL(None)
os.setgroups([])
_libc.setfsgid(%d)
_libc.setfsuid(%d)
''' % (H.NOBODY_GID, H.NOBODY_UID)
    res = _compare_root_caller(m, "root with nobody's fs uid",
                               lambda argv: argv, prelude)
    eq((res["nob600.read"], res["own600.read"], res["create"]),
       ("ok", "EACCES", "ok"), "as nobody for files (directly)")


def test_root_only_mount_full_root_unchanged(m):
    """Positive control: root with every capability may do everything but
    run a file without x bits."""
    os.chmod(m.shm, 0o1777)
    res = _compare_root_caller(m, "root", lambda argv: argv)
    refused = sorted(k for k, x in res.items()
                     if x not in ("ok", "True") and "mode_after" not in k)
    no_x = [f[0] for f in ROOT_ONLY_FILES if not f[1] & 0o111]
    eq(refused, sorted([n + ".exec" for n in no_x] +
                       [n + ".access_x" for n in no_x]), "refused to root")


def test_root_only_mount_shm_dir_of_another_owner(m):
    """The shm directory's own bits: one that root without capabilities
    cannot search or list (nothing in it can be reached through the mount
    either, also names the kernel has cached), and a sticky one of
    another owner (only one's own files may be removed)."""
    cases = ((0o770, H.NOBODY_UID, GROUP, ("EACCES",) * 6),
             (0o1777, H.NOBODY_UID, H.NOBODY_GID,
              ("ok", "ok", "EPERM", "ok", "EPERM", "EPERM")))
    try:
        for mode, uid, gid, want in cases:
            os.chown(m.shm, uid, gid)
            os.chmod(m.shm, mode)
            res = _compare_root_caller(m, "root without capabilities, shm "
                                       "dir %o" % mode, _root_with_only())
            eq((res["listdir"], res["own600.stat"], res["unlink_nob"],
                res["create"], res["rename_over_nob"], res["remove_list"]),
               want, "shm dir %o (directly)" % mode)
    finally:
        os.chown(m.shm, 0, 0)
        os.chmod(m.shm, 0o1777)


def test_root_only_mount_borrowed_credentials_get_no_capabilities(m):
    """A kernel service acting for someone else on a root thread (nfsd for
    a client; here io_uring with a personality registered as nobody): the
    thread's own credentials are root's, the request's are nobody's.  And
    an io_uring worker acting with fewer capabilities than its own.  What
    they may open through the mount is what they may open directly."""
    helper = os.path.join(os.path.dirname(os.path.dirname(H.SHMFS)),
                          "tests", "fs", "borrowed_creds")
    os.chmod(m.shm, 0o1777)
    for name, uid in (("other", 12345), ("nobodys", H.NOBODY_UID)):
        H.write_file(m.shm_path(name), b"x", mode=0o600)
        os.chown(m.shm_path(name), uid, uid)
    got = {}
    for name, mode in (("other", ""), ("nobodys", ""), ("other", "--caps")):
        for where, path in (("direct", m.shm_path(name)),
                            ("mount", m.path(name))):
            r = subprocess.run([helper] + ([mode] if mode else [])
                               + [path], capture_output=True, text=True,
                               timeout=30)
            if r.returncode == 77:
                raise H.Skip("no io_uring here: %s" % r.stderr.strip())
            eq(r.returncode, 0, "borrowed_creds %s %s: %s" % (
                mode, path, r.stderr))
            got[name, mode, where] = r.stdout.strip()
    eq((got["other", "", "direct"], got["nobodys", "", "direct"]),
       ("EACCES", "ok"), "as nobody, directly")
    eq((got["other", "", "mount"], got["nobodys", "", "mount"]),
       ("EACCES", "ok"), "as nobody, through the mount")
    # uid 0 without DAC_OVERRIDE and DAC_READ_SEARCH, in an io_uring worker
    # (whose own capabilities are all the process had)
    eq((got["other", "--caps", "direct"], got["other", "--caps", "mount"]),
       ("EACCES", "EACCES"), "root without DAC capabilities in a worker")


def test_root_only_mount_unknown_groups_leave_capabilities(m):
    """Root in more groups than the daemon reads (256) has unknown groups,
    but its capabilities still count: it reads a 0604 file (group class
    refused, others allowed) of another user, as it does directly."""
    os.chmod(m.shm, 0o1777)
    H.write_file(m.shm_path("g604"), b"x", mode=0o604)
    os.chown(m.shm_path("g604"), 12345, GROUP)
    groups = ",".join([str(GROUP)] + [str(1000000 + i) for i in range(299)])
    res = H.python_as(_setpriv("--groups=" + groups), "root in 300 groups",
                      "R['m'] = t(rd, %r)\nR['d'] = t(rd, %r)\n" % (
                          m.path("g604"), m.shm_path("g604")))
    eq((res["d"], res["m"]), ("ok", "ok"), "directly, through the mount")


HIGH_CAPS_ONLY = "--bounding-set=-all," + ",".join(
    "+" + c for c in ("lease", "audit_write", "audit_control", "setfcap",
                      "mac_override", "mac_admin", "syslog", "wake_alarm",
                      "block_suspend", "audit_read", "perfmon", "bpf",
                      "checkpoint_restore"))


def test_root_only_mount_status_cut_never_gives_capabilities(m):
    """A caller decides how long its /proc/TID/status is (its groups, its
    name): wherever a line falls, the daemon must read the capabilities
    whole or not at all.  Root with capabilities 28 to 40 only (none over
    files; CapEff 000001fff0000000), in enough groups to put byte 4096 of
    that file after the 8th digit of CapEff (the name moves it byte by
    byte), must never read a 0600 file of another user through the mount.
    A 4 KiB read parsed the first digits: 0x1ff, CAP_DAC_OVERRIDE among
    them."""
    os.chmod(m.shm, 0o1777)
    H.write_file(m.shm_path("theirs"), b"x", mode=0o600)
    os.chown(m.shm_path("theirs"), 12345, 12345)
    code = r'''
import ctypes
libc = ctypes.CDLL(None)
def status():
    with open("/proc/thread-self/status", "rb") as f:
        return f.read()
name = b"x"
libc.prctl(15, name, 0, 0, 0)  # PR_SET_NAME
digits = status().index(b"CapEff:\t") + 8
want = 4095 - 8  # byte 4096 after CapEff's 8th digit (7th to 9th: 0x1f..)
if 0 <= want - digits < 15:
    name = b"x" * (1 + want - digits)
    libc.prctl(15, name, 0, 0, 0)
    digits = status().index(b"CapEff:\t") + 8
R["cut"] = str(7 <= 4095 - digits <= 9)
R["theirs"] = t(rd, %r)
''' % m.path("theirs")
    cuts = 0
    for n in range(250, 300):
        groups = ",".join(str(1000000000 + i) for i in range(n))
        res = H.python_as(_setpriv("--groups=" + groups, HIGH_CAPS_ONLY),
                          "root with high capabilities in %d groups" % n,
                          code)
        eq(res["theirs"], "EACCES", "a 0600 file of another user, in %d "
           "groups (cut in CapEff: %s)" % (n, res["cut"]))
        cuts += res["cut"] == "True"
    H.note("runs with byte 4096 inside CapEff's digits: %d" % cuts)
    check(cuts >= 1, "no run put byte 4096 inside CapEff")


# ---------------------------------------------------------------------------
# Races with another user publishing a name directly in the sticky shm dir.
# The kernel checks a request against the entry it has, but the name may
# change in the real directory before the daemon acts on it: the daemon
# must then act with the caller's rights (sticky bit, write permission), not
# its own.  A victim (uid 1234) publishes V again and again (create tmpv,
# rename it to V, keep an fd on it) while nobody works through the mount;
# the victim's file must never be replaced, removed or truncated.

VICTIM_UID = 1234
RACE_SECONDS = 2.5

RACE_PRELUDE = r"""
import errno, json, os, sys, time
S, M, END = sys.argv[1], sys.argv[2], float(sys.argv[3])
R = {}
"""

# The victim: publish V (4096 bytes, 0644) by renaming tmpv over it (EPERM
# while nobody's V is there), wait a moment, check its file through its own
# fd, remove it again.
VICTIM = r"""
R.update(placed=0, lost=0, replaced=0, truncated=0)
while time.time() < END:
    fd = os.open(S + "/tmpv", os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, b"v" * 4096)
    ino = os.fstat(fd).st_ino
    try:
        os.rename(S + "/tmpv", S + "/V")
    except OSError:
        os.unlink(S + "/tmpv")
        os.close(fd)
        continue
    R["placed"] += 1
    time.sleep(0.0003)
    st = os.fstat(fd)
    if st.st_nlink == 0:
        R["lost"] += 1
        try:
            if os.stat(S + "/V").st_uid != os.getuid():
                R["replaced"] += 1
        except OSError:
            pass
    if st.st_size != 4096:
        R["truncated"] += 1
    try:
        if os.stat(S + "/V").st_ino == ino:
            os.unlink(S + "/V")
    except OSError:
        pass
    os.close(fd)
print(json.dumps(R))
"""


def _race(m, attacker):
    """Run VICTIM as uid 1234 and `attacker` as nobody at once for
    RACE_SECONDS; returns (victim's R, attacker's R)."""
    os.chmod(m.shm, 0o1777)
    end = time.time() + 0.3 + RACE_SECONDS
    args = [m.shm, m.mnt, repr(end)]
    victim_argv = ["setpriv", "--reuid=%d" % VICTIM_UID,
                   "--regid=%d" % VICTIM_UID, "--clear-groups", "--",
                   sys.executable, "-c", RACE_PRELUDE + VICTIM] + args
    attacker_argv = H.nobody_argv([sys.executable, "-c",
                                   RACE_PRELUDE + attacker] + args)
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd="/")
             for a in (victim_argv, attacker_argv)]
    out = []
    for who, p in zip(("victim", "attacker"), procs):
        try:
            so, se = p.communicate(timeout=RACE_SECONDS + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            so, se = p.communicate()
        if p.returncode != 0:
            raise H.TestFailure("%s failed (%s): %s" % (who, p.returncode,
                                                        se.strip()[-2000:]))
        out.append(json.loads(so.strip().splitlines()[-1]))
    for n in os.listdir(m.shm):
        os.unlink(m.shm_path(n))
    H.note("victim (uid %d): %s" % (VICTIM_UID, out[0]))
    H.note("nobody: %s" % out[1])
    check(out[0]["placed"] > 0, "the victim never published V")
    return out


@H.timeout(60)
@H.mount_with(allow_other=True)
def test_race_rename_never_replaces_other_users_file(m):
    """nobody renames its own A over V through the mount while V does not
    exist as far as the kernel knows; the victim publishes V meanwhile.
    Done as root, the rename would replace the victim's file in the sticky
    directory."""
    victim, attacker = _race(m, r"""
R.update(renamed=0, refused=0)
while time.time() < END:
    try:
        os.close(os.open(M + "/A", os.O_CREAT | os.O_RDWR, 0o644))
    except OSError:
        continue
    try:
        os.rename(M + "/A", M + "/V")
        R["renamed"] += 1
        os.unlink(M + "/V")
    except PermissionError:
        R["refused"] += 1
    except OSError:
        pass
print(json.dumps(R))
""")
    eq(victim["replaced"], 0, "times nobody's rename through the mount "
       "replaced the victim's V")
    eq(victim["lost"], 0, "times the victim's V lost its name")


@H.timeout(60)
@H.mount_with(allow_other=True)
def test_race_unlink_of_stale_name_never_removes_other_users_file(m):
    """nobody creates V through the mount (the kernel caches V as nobody's
    file), removes it behind the mount's back, then unlinks V through the
    mount - by then the victim may have published its own V.  Done as root,
    that unlink would remove the victim's file."""
    victim, attacker = _race(m, r"""
R.update(created=0, unlinked=0)
while time.time() < END:
    try:
        os.close(os.open(M + "/V", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644))
    except OSError:
        continue
    R["created"] += 1
    try:
        os.stat(M + "/V")           # the kernel caches V -> nobody's file
        os.unlink(S + "/V")         # removed directly: the name is stale
    except OSError:
        continue
    try:
        os.unlink(M + "/V")
        R["unlinked"] += 1
    except OSError:
        pass
print(json.dumps(R))
""")
    eq(victim["lost"], 0, "times nobody's unlink of a stale name through "
       "the mount removed the victim's V")


@H.timeout(60)
@H.mount_with(allow_other=True)
def test_race_create_o_trunc_never_truncates_other_users_file(m):
    """nobody opens V with O_RDONLY|O_CREAT|O_TRUNC through the mount while
    the victim publishes a 0644 V: the create that finds the name taken must
    not truncate a file nobody may only read."""
    victim, attacker = _race(m, r"""
R.update(own=0, victims=0, victims_truncated=0, refused=0)
while time.time() < END:
    try:
        fd = os.open(M + "/V", os.O_RDONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except PermissionError:
        R["refused"] += 1
        continue
    except OSError:
        continue
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        continue
    if st.st_uid == os.getuid():
        R["own"] += 1
        try:
            os.unlink(M + "/V")
        except OSError:
            pass
    else:
        R["victims"] += 1
        if st.st_size == 0:
            R["victims_truncated"] += 1
    os.close(fd)
print(json.dumps(R))
""")
    eq(victim["truncated"], 0, "times the victim's 0644 V was truncated by "
       "nobody's O_CREAT|O_TRUNC")
    eq(attacker["victims"], 0, "times nobody opened the victim's 0644 V "
       "with O_TRUNC")


@H.mount_with(allow_other=True)
def test_create_o_trunc_of_other_users_0644_file_refused(m):
    """The same without a race: the kernel finds V and checks write access
    for O_TRUNC itself."""
    os.chmod(m.shm, 0o1777)
    H.write_file(m.shm_path("V"), b"v" * 4096, mode=0o644)
    os.chown(m.shm_path("V"), VICTIM_UID, VICTIM_UID)
    res = H.as_nobody(r'''
R["open"] = t(lambda: os.close(os.open(%r, os.O_RDONLY | os.O_CREAT |
                                       os.O_TRUNC, 0o600)))
''' % m.path("V"))
    eq(res["open"], "EACCES", "O_RDONLY|O_CREAT|O_TRUNC of another user's "
       "0644 file as nobody")
    eq(os.stat(m.shm_path("V")).st_size, 4096, "size of the file")


# ---------------------------------------------------------------------------
# Symlinks and other special files are never followed or opened


def test_symlinks_never_followed(m):
    target = os.path.join(H.base_dir(), H.new_name("target"))
    H.write_file(target, b"original", mode=0o644)
    os.symlink(target, m.shm_path("evil"))
    os.mkdir(m.shm_path("sub"))
    os.symlink(m.shm_path("sub"), m.shm_path("dirlink"))
    results = {}
    results["create"] = H.errno_of(
        lambda: os.close(os.open(m.path("evil"), os.O_CREAT | os.O_WRONLY |
                                 os.O_TRUNC, 0o644)))
    results["shell>"] = H.sh("echo pwned > %s" % m.path("evil")).returncode
    results["truncate"] = H.errno_of(os.truncate, m.path("evil"), 0)
    results["chmod"] = H.errno_of(os.chmod, m.path("evil"), 0o600)
    results["chown"] = H.errno_of(os.chown, m.path("evil"), 65534, 65534)
    results["utime"] = H.errno_of(os.utime, m.path("evil"), (1, 1))
    results["in_dirlink"] = H.errno_of(
        lambda: os.close(os.open(m.path("dirlink", "x"), os.O_CREAT |
                                 os.O_WRONLY, 0o600)))
    results["in_sub"] = H.errno_of(
        lambda: os.close(os.open(m.path("sub", "x"), os.O_CREAT |
                                 os.O_WRONLY, 0o600)))
    H.note("through a symlink: %s" % {k: (H.ename(v) if isinstance(v, int)
                                          and k != "shell>" else v)
                                      for k, v in results.items()})
    eq(H.read_file(target), b"original", "symlink target content")
    st = os.stat(target)
    eq(stat.S_IMODE(st.st_mode), 0o644, "symlink target mode")
    eq((st.st_uid, st.st_gid, int(st.st_mtime) != 1), (0, 0, True),
       "symlink target owner/times")
    check(os.path.islink(m.shm_path("evil")), "symlink replaced")
    eq(os.listdir(m.shm_path("sub")), [], "nothing created through dirlink")


@H.timeout(120)
def test_file_swapped_for_symlink_not_followed(m):
    """A segment replaced by a symlink between lookup and open (the kernel
    still has the old entry): the daemon opens with O_NOFOLLOW."""
    target = os.path.join(H.base_dir(), H.new_name("target"))
    H.write_file(target, b"original", mode=0o666)
    for i in range(50):
        name = "swap%d" % i
        H.write_file(m.shm_path(name), b"seg", mode=0o666)
        os.stat(m.path(name))                    # entry cached
        os.unlink(m.shm_path(name))
        os.symlink(target, m.shm_path(name))
        e = H.errno_of(lambda: os.close(os.open(
            m.path(name), os.O_WRONLY | os.O_TRUNC)))
        H.errno_of(os.truncate, m.path(name), 0)
        eq(H.read_file(target), b"original",
           "round %d: target changed through a swapped symlink" % i)
    check(m.alive(), "daemon alive")


@H.timeout(60)
def test_file_swapped_for_fifo_never_blocks(m):
    H.write_file(m.shm_path("other"), b"o")
    H.write_file(m.shm_path("ff"), b"x")
    os.stat(m.path("ff"))
    os.unlink(m.shm_path("ff"))
    os.mkfifo(m.shm_path("ff"))
    pid = os.fork()
    if pid == 0:
        signal.alarm(10)
        try:
            os.close(os.open(m.path("ff"), os.O_RDONLY))
        except OSError:
            pass
        os._exit(0)
    try:
        # the daemon keeps serving others meanwhile
        t0 = time.monotonic()
        for _ in range(20):
            eq(H.read_file(m.path("other")), b"o", "other segment")
        check(time.monotonic() - t0 < 2, "daemon stalled by the FIFO open")
        t0 = time.monotonic()
        while True:
            p, st = os.waitpid(pid, os.WNOHANG)
            if p:
                break
            if time.monotonic() - t0 > 5:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise H.TestFailure("open of a swapped-in FIFO blocked")
            time.sleep(0.01)
        eq(os.waitstatus_to_exitcode(st), 0, "opener exited normally (not by "
           "the 10 s alarm)")
    finally:
        try:
            # unblock a daemon stuck opening the FIFO, if it is
            fd = os.open(m.shm_path("ff"), os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass


def test_odd_names(m):
    names = ["a b", "\u00fcml\u00e4ut", "-dash", "...", "x\ny", "semi;colon",
             "sem", "semaphore", "tab\tname", "\\back", ".hidden"]
    for n in names:
        fd = os.open(m.path(n), os.O_CREAT | os.O_WRONLY, 0o600)
        os.write(fd, n.encode())
        os.close(fd)
    eq(sorted(os.listdir(m.shm)), sorted(names), "created directly")
    eq(sorted(os.listdir(m.mnt)), sorted(names), "listed on the mount")
    for n in names:
        eq(H.read_file(m.path(n)), n.encode(), "content of %r" % n)


def test_create_sem_name_refused_or_hidden(m):
    """A sem.* name is a POSIX semaphore, never shown: creating one through
    the mount is refused (or at least it stays hidden)."""
    e = H.errno_of(lambda: os.close(os.open(
        m.path("sem.x"), os.O_CREAT | os.O_WRONLY, 0o600)))
    H.note("create sem.x: %s" % ("ok" if e is None else H.ename(e)))
    if e is None:
        check("sem.x" not in os.listdir(m.mnt), "sem.x created and shown")
    else:
        check(e in (errno.EPERM, errno.EACCES, errno.EINVAL),
              "create sem.x: %s" % H.ename(e))
        check(not os.path.exists(m.shm_path("sem.x")), "refused yet made")


# ---------------------------------------------------------------------------
# ENOSPC


@H.timeout(120)
def test_full_tmpfs_is_enospc():
    fs = H.mount_tmpfs("1m")
    try:
        with H.Mount(shm_dir=fs) as m:
            fd = os.open(m.path("fill"), os.O_CREAT | os.O_WRONLY, 0o600)
            err = None
            total = 0
            chunk = b"z" * 65536
            try:
                for _ in range(64):                  # up to 4 MiB
                    total += os.write(fd, chunk)
            except OSError as e:
                err = e.errno
            try:
                os.fsync(fd)
            except OSError as e:
                err = err or e.errno
            os.close(fd)
            H.note("wrote %d bytes before %s" % (total, H.ename(err) if err
                                                  else "no error"))
            eq(err, errno.ENOSPC, "writing 4 MiB into a 1 MiB tmpfs")
            check(total <= (1 << 20), "more written than the tmpfs holds")
            # truncate is sparse on tmpfs, but creating another file and
            # writing to it must also be ENOSPC
            fd = os.open(m.path("more"), os.O_CREAT | os.O_WRONLY, 0o600)
            expect_errno(errno.ENOSPC, os.write, fd, chunk,
                         what="write to a second file on a full tmpfs")
            os.close(fd)
            os.unlink(m.path("fill"))
            # The pages go with the daemon's fd, which it closes when it
            # gets the RELEASE that the kernel sends in the background
            # after close(2): the space may take a moment to come back.
            fd = os.open(m.path("more"), os.O_WRONLY)

            other = []

            def write_fits():
                try:
                    return os.pwrite(fd, chunk, 0) == len(chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        other.append(e)
                    return bool(other)
            ok, t = H.poll_until(write_fits, 2, 0.005)
            check(not other, "write after freeing space: %s" % other[:1])
            check(ok, "write after freeing space: still ENOSPC after 2 s")
            H.note("space back after %.1f ms" % (t * 1000))
            os.close(fd)
            eq(os.path.getsize(os.path.join(fs, "more")), len(chunk),
               "real size")
    finally:
        H.umount_tmpfs(fs)


# ---------------------------------------------------------------------------
# SIGKILL loses nothing


@H.timeout(120)
def test_sigkill_loses_nothing():
    shm = H.new_shm_dir()
    m = H.Mount(shm_dir=shm)
    try:
        fd = os.open(m.path("seg"), os.O_CREAT | os.O_RDWR, 0o640)
        os.ftruncate(fd, 1 << 20)
        mm = mmap.mmap(fd, 1 << 20)
        os.close(fd)
        mm[0:11] = b"before kill"
        fd = os.open(m.path("w"), os.O_CREAT | os.O_WRONLY, 0o600)
        os.write(fd, b"written, never closed")
        H.make_list(shm, "L", [5, "abc"])
        H.poll_until(lambda: os.path.isdir(m.path("L")), 2)
        eq(H.sh("echo 6 > %s" % m.path("L", "0")).returncode, 0, "echo 6")
        before = {n: H.read_file(os.path.join(shm, n))
                  for n in os.listdir(shm)}

        m.kill(signal.SIGKILL)
        m.expect_dead = True
        check(m.wait_exit(10) is not None, "daemon did not die")
        after = {n: H.read_file(os.path.join(shm, n))
                 for n in os.listdir(shm)}
        eq(sorted(after), sorted(before), "segments after SIGKILL")
        eq(after, before, "segment contents after SIGKILL")
        eq(after["w"], b"written, never closed", "write of an open fd")
        # the running mapping keeps working, both ways
        mm[100:110] = b"after kill"
        fdd = os.open(os.path.join(shm, "seg"), os.O_RDWR)
        md = mmap.mmap(fdd, 1 << 20)
        os.close(fdd)
        eq(md[100:110], b"after kill", "direct map sees the old mount map")
        md[200:206] = b"direct"
        eq(mm[200:206], b"direct", "old mount map sees the direct map")
        e = H.errno_of(os.stat, m.path("seg"))
        H.note("stat on the dead mount: %s" % (H.ename(e) if e else "ok"))
        try:
            os.close(fd)       # FLUSH to a dead daemon: ENOTCONN is fine
        except OSError:
            pass

        m.stop(check=False)            # fusermount3 -u / umount -l
        check(not H.is_mounted(m.mnt, None), "dead mount still mounted")
        m.start()                      # remount the same dir and mountpoint
        eq(sorted(os.listdir(m.mnt)), sorted(["seg", "w", "L"]),
           "remount shows every segment")
        eq(H.read_file(m.path("seg"))[:11], b"before kill", "seg content")
        eq(H.read_file(m.path("L", "0")), b"6\n", "list element")
        fd2 = os.open(m.path("seg"), os.O_RDWR)
        mm2 = mmap.mmap(fd2, 1 << 20)
        os.close(fd2)
        mm[300:305] = b"third"
        eq(mm2[300:305], b"third", "new mount map sees the old mount map")
        mm2.close()
        mm.close()
        md.close()
        m.stop()
    finally:
        m.stop(check=False)


def test_daemon_keeps_no_data(m):
    """Everything written through the mount is in the shm dir at once (no
    daemon-side buffering): compare before any close/fsync."""
    fd = os.open(m.path("nb"), os.O_CREAT | os.O_WRONLY, 0o600)
    for i in range(100):
        os.write(fd, b"%04d" % i)
        eq(os.path.getsize(m.shm_path("nb")), 4 * (i + 1),
           "real size after write %d" % i)
    os.close(fd)


if __name__ == "__main__":
    H.run(globals())
