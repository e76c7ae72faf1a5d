#!/usr/bin/python3
"""test_command.py - the shmfs command (issue 3, "The command").

    test_command.py SHMFS [TEST-NAME-SUBSTRING ...]

Mounting in the foreground and as a daemon, the mount table entry (source =
absolute shm dir, type fuse.shmfs, default_permissions always on), -d, -o,
mount -t fuse.shmfs and an fstab line, unmounting with fusermount3 -u and
umount, SIGTERM/SIGINT, bad usage, and requests served concurrently.
"""
import os
import re
import signal
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shmfs_harness as H  # noqa: E402
from shmfs_harness import check, eq  # noqa: E402


def test_foreground_mount_table(m):
    e = H.mount_entry(m.mnt)
    check(e is not None, "no fuse.shmfs entry for %s" % m.mnt)
    eq(e["fstype"], "fuse.shmfs", "fstype")
    eq(e["source"], m.shm, "mount source (fsname)")
    # Only root may use it: the daemon checks permissions itself.
    check("default_permissions" not in e["superopts"].split(","),
          "default_permissions in the super options %r of a root-only "
          "mount" % e["superopts"])
    check(m.alive(), "the -f daemon should still be running")


def test_mount_root_mirrors_shm_dir(m):
    os.chmod(m.shm, 0o1777)
    st, sd = os.stat(m.mnt), os.stat(m.shm)
    check(stat.S_ISDIR(st.st_mode), "mount root is not a directory")
    eq(oct(stat.S_IMODE(st.st_mode)), oct(stat.S_IMODE(sd.st_mode)),
       "mount root mode (sticky bit matters for default_permissions)")
    eq((st.st_uid, st.st_gid), (sd.st_uid, sd.st_gid), "mount root owner")


def test_relative_shm_dir_gives_absolute_fsname():
    shm = H.new_shm_dir()
    parent, base = os.path.split(shm)
    with H.Mount(shm_dir=shm, shm_arg=base, cwd=parent) as m:
        eq(H.mount_entry(m.mnt)["source"], shm, "source for a relative "
           "--shm-dir")
        H.write_file(os.path.join(shm, "rel"), b"x")
        check("rel" in os.listdir(m.mnt), "segment of the relative dir shown")


def test_default_shm_dir_is_dev_shm():
    with H.Mount(shm_dir="/dev/shm", use_shm_dir_flag=False) as m:
        eq(H.mount_entry(m.mnt)["source"], "/dev/shm", "default source")
        name = H.new_name("def")
        H.write_file(os.path.join("/dev/shm", name), b"hello")
        H.check(H.poll_until(lambda: os.path.exists(m.path(name)), 1)[0],
                "segment in /dev/shm not shown on a default mount")
        eq(H.read_file(m.path(name)), b"hello", "content via default mount")
        os.unlink(os.path.join("/dev/shm", name))


def _signal_unmounts(sig):
    m = H.Mount()
    try:
        H.write_file(m.shm_path("a"), b"data")
        os.listdir(m.mnt)
        m.kill(sig)
        rc = m.wait_exit(10)
        eq(rc, 0, "exit status after %s" % signal.Signals(sig).name)
        check(not H.is_mounted(m.mnt, None),
              "still mounted after %s" % signal.Signals(sig).name)
        eq(H.read_file(m.shm_path("a")), b"data", "segment survives")
        m.expect_dead = True
    finally:
        m.stop(check=False)


def test_sigterm_unmounts_and_exits_0():
    _signal_unmounts(signal.SIGTERM)


def test_sigint_unmounts_and_exits_0():
    _signal_unmounts(signal.SIGINT)


def test_sigterm_with_open_file():
    m = H.Mount()
    try:
        H.write_file(m.shm_path("a"), b"data")
        fd = os.open(m.path("a"), os.O_RDONLY)
        m.kill(signal.SIGTERM)
        rc = m.wait_exit(10)
        try:
            os.close(fd)    # FLUSH on a gone connection: ENOTCONN is fine
        except OSError:
            pass
        eq(rc, 0, "exit status after SIGTERM with a file open")
        check(not H.is_mounted(m.mnt, None), "still mounted")
        m.expect_dead = True
    finally:
        m.stop(check=False)


def test_fusermount_u_stops_foreground_daemon():
    m = H.Mount()
    r = subprocess.run(["fusermount3", "-u", m.mnt], capture_output=True,
                       text=True)
    eq(r.returncode, 0, "fusermount3 -u status (%s)" % r.stderr.strip())
    rc = m.wait_exit(10)
    eq(rc, 0, "daemon exit status after fusermount3 -u")
    check(not H.is_mounted(m.mnt, None), "still mounted")
    m.expect_dead = True
    m.stop()


def test_umount_stops_foreground_daemon():
    m = H.Mount()
    r = subprocess.run(["umount", m.mnt], capture_output=True, text=True)
    eq(r.returncode, 0, "umount status (%s)" % r.stderr.strip())
    rc = m.wait_exit(10)
    eq(rc, 0, "daemon exit status after umount")
    m.expect_dead = True
    m.stop()


def test_daemon_mode_ready_on_return_and_fusermount_stops_it():
    # Mount(foreground=False) asserts the mount is there when shmfs returns.
    m = H.Mount(foreground=False)
    try:
        H.write_file(m.shm_path("seg"), b"abc")
        eq(H.read_file(m.path("seg")), b"abc", "read via daemonized mount")
        with open("/proc/%d/stat" % m.pid) as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        check(ppid != os.getpid(), "daemon is still our child (did not "
              "daemonize)")
        r = subprocess.run(["fusermount3", "-u", m.mnt], capture_output=True,
                           text=True)
        eq(r.returncode, 0, "fusermount3 -u (%s)" % r.stderr.strip())
        check(m.wait_exit(10) is not None,
              "daemon still running 10 s after fusermount3 -u")
        check(not H.is_mounted(m.mnt, None), "still mounted")
        m.expect_dead = True
    finally:
        m.stop(check=False)


def test_daemon_mode_sigterm():
    m = H.Mount(foreground=False)
    try:
        m.kill(signal.SIGTERM)
        check(m.wait_exit(10) is not None, "daemon survived SIGTERM")
        check(not H.is_mounted(m.mnt, None), "still mounted after SIGTERM")
        m.expect_dead = True
    finally:
        m.stop(check=False)


def test_debug_flag_stays_in_foreground_and_logs():
    with H.Mount(debug=True, pass_f=False) as m:
        os.listdir(m.mnt)
        H.write_file(m.shm_path("d"), b"1")
        os.stat(m.path("d"))
        check(m.alive(), "-d alone should keep the daemon in the foreground")
        log = m.log_text()
        check(re.search(r"INIT|unique", log),
              "-d printed no request log:\n" + m.log_tail(10))


def test_o_ro():
    shm = H.new_shm_dir()
    H.write_file(os.path.join(shm, "seg"), b"ro data")
    with H.Mount(shm_dir=shm, opts=["ro"]) as m:
        check("ro" in H.mount_entry(m.mnt)["mntopts"].split(","),
              "ro not in mount options")
        eq(H.read_file(m.path("seg")), b"ro data", "read on a ro mount")
        H.expect_errno(H.errno.EROFS, os.open, m.path("seg"), os.O_WRONLY,
                       what="open for write on -o ro")
        H.expect_errno(H.errno.EROFS, os.open, m.path("new"),
                       os.O_WRONLY | os.O_CREAT, 0o600,
                       what="create on -o ro")
        H.expect_errno(H.errno.EROFS, os.unlink, m.path("seg"),
                       what="unlink on -o ro")
        check(os.path.exists(os.path.join(shm, "seg")), "segment survived")


def test_o_allow_other_in_mount_table():
    with H.Mount(allow_other=True) as m:
        e = H.mount_entry(m.mnt)
        opts = e["superopts"].split(",")
        check("allow_other" in opts, "allow_other not in %r" % opts)
        check("default_permissions" in opts,
              "default_permissions not in %r" % opts)


def test_kernel_checks_unless_root_only():
    """default_permissions (the kernel checks) on every mount others may
    use, and when asked; off only on a root-only mount (cred.c)."""
    for opts, want in ((["allow_root"], True), (["default_permissions"], True),
                       (["ro,allow_other"], True), (["ro"], False),
                       (["fsname=x\\,allow_other"], False),
                       (["allow\\_other"], True)):  # libfuse unescapes
        with H.Mount(opts=opts) as m:
            sup = H.mount_entry(m.mnt)["superopts"].split(",")
            eq("default_permissions" in sup, want,
               "default_permissions with -o %s" % opts)
            eq("allow_other" in sup, want and opts != ["default_permissions"],
               "allow_other with -o %s" % opts)


def test_bad_usage():
    mnt = H.new_dir("m")
    shm = H.new_shm_dir()
    cases = [
        ("no mountpoint", [H.SHMFS, "--shm-dir", shm, "-f"]),
        ("missing shm dir", [H.SHMFS, "--shm-dir", shm + "/nonexistent",
                             "-f", mnt]),
        ("shm dir is a file", [H.SHMFS, "--shm-dir", "/etc/passwd", "-f",
                               mnt]),
        ("missing mountpoint", [H.SHMFS, "--shm-dir", shm, "-f",
                                mnt + "/nonexistent"]),
        ("unknown option", [H.SHMFS, "--no-such-option", "-f", mnt]),
    ]
    for what, argv in cases:
        try:
            r = subprocess.run(argv, capture_output=True, text=True,
                               timeout=10)
        except subprocess.TimeoutExpired:
            H.force_unmount(mnt)
            raise H.TestFailure("%s: shmfs did not exit" % what)
        mounted = H.is_mounted(mnt, None)
        if mounted:
            H.force_unmount(mnt)
        check(r.returncode != 0, "%s: exit status 0" % what)
        check(not mounted, "%s: left a mount" % what)
        check(r.stderr.strip() != "", "%s: no message on stderr" % what)
        if what == "missing shm dir":
            check("nonexistent" in r.stderr,
                  "message does not name the shm dir: %r" % r.stderr)


STD_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"   # what mount(8) gives helpers


def _installed_is_ours():
    """mount(8) runs helpers with a fixed PATH: `mount -t fuse.shmfs` finds
    only an installed shmfs.  True when that one is the daemon under test."""
    import shutil
    found = shutil.which("shmfs", path=STD_PATH)
    return found is not None and os.path.samefile(found, H.SHMFS)


def _mount_like_mount8(source, mnt, opts, fstab=None):
    """Mount as `mount -t fuse.shmfs SOURCE MNT -o OPTS` (or an fstab
    line) does.  Without an installed shmfs this runs mount.fuse3, the
    helper mount(8) itself runs for fuse.* types, with PATH pointing at the
    build; the daemon sees the same argv either way."""
    if os.path.basename(H.SHMFS) != "shmfs":
        raise H.Skip("the daemon is not called shmfs")
    env = dict(os.environ)
    if _installed_is_ours():
        if fstab:
            argv = ["mount", "-T", fstab, mnt]
        else:
            argv = ["mount", "-t", "fuse.shmfs", "-o", opts, source, mnt]
    else:
        helper = None
        for d in STD_PATH.split(":"):
            if os.access(os.path.join(d, "mount.fuse3"), os.X_OK):
                helper = os.path.join(d, "mount.fuse3")
                break
        if helper is None:
            raise H.Skip("no mount.fuse3 and no installed shmfs")
        H.note("shmfs is not installed (mount(8) resets PATH): ran %s, the "
               "helper mount -t fuse.shmfs runs" % helper)
        env["PATH"] = os.path.dirname(H.SHMFS) + ":" + env.get("PATH", "")
        argv = [helper, source, mnt, "-t", "shmfs", "-o", opts]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          env=env)


def _wait_daemon_gone(mnt):
    t0 = time.monotonic()
    while H.pids_of_daemon(mnt):
        if time.monotonic() - t0 > 10:
            for p in H.pids_of_daemon(mnt):
                os.kill(p, signal.SIGKILL)
            return False
        time.sleep(0.02)
    return True


def test_mount_t_fuse_shmfs():
    shm, mnt = H.new_shm_dir(), H.new_dir("m")
    H.write_file(os.path.join(shm, "seg"), b"via mount -t")
    r = _mount_like_mount8(shm, mnt, "rw")
    try:
        eq(r.returncode, 0, "mount -t fuse.shmfs %s %s: %s" % (
            shm, mnt, (r.stdout + r.stderr).strip()))
        e = H.mount_entry(mnt)
        check(e is not None, "no fuse.shmfs mount after mount -t")
        eq(e["source"], shm, "source")
        eq(H.read_file(os.path.join(mnt, "seg")), b"via mount -t", "content")
    finally:
        H.force_unmount(mnt)
    check(_wait_daemon_gone(mnt), "daemon still running after unmount")


def test_fstab_line():
    shm, mnt = H.new_shm_dir(), H.new_dir("m")
    H.write_file(os.path.join(shm, "seg"), b"via fstab")
    fstab = os.path.join(H.base_dir(), "fstab")
    with open(fstab, "w") as f:
        f.write("%s %s fuse.shmfs rw,allow_other 0 0\n" % (shm, mnt))
    r = _mount_like_mount8(shm, mnt, "rw,allow_other", fstab=fstab)
    try:
        eq(r.returncode, 0, "mount -T fstab %s: %s" % (
            mnt, (r.stdout + r.stderr).strip()))
        e = H.mount_entry(mnt)
        check(e is not None, "no fuse.shmfs mount from the fstab line")
        eq(e["source"], shm, "source")
        check("allow_other" in e["superopts"], "fstab option allow_other "
              "not applied: %r" % e["superopts"])
        eq(H.read_file(os.path.join(mnt, "seg")), b"via fstab", "content")
    finally:
        r2 = subprocess.run(["umount", mnt], capture_output=True, text=True)
        H.force_unmount(mnt)
    eq(r2.returncode, 0, "umount of the fstab mount: %s" % r2.stderr.strip())
    check(_wait_daemon_gone(mnt), "daemon still running after umount")


@H.timeout(120)
def test_requests_served_concurrently():
    """Several requests are in the daemon at once under a parallel load
    (seen in the -d request log)."""
    with H.Mount(debug=True) as m:
        n = H.max_in_flight_under_load(m)
        H.note("up to %d requests in flight at once; %d threads" % (
            n, H.thread_count(m.pid)))
        check(n >= 2, "requests were served one at a time (max in flight "
              "%d)" % n)


if __name__ == "__main__":
    H.run(globals())
