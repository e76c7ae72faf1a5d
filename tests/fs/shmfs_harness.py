"""shmfs_harness.py - mount a real shmfs for the integration tests.

Every test module in tests/fs/ is run as

    /usr/bin/python3 tests/fs/test_xxx.py SHMFS [NAME-SUBSTRING ...]

SHMFS is the daemon executable (build/fs/shmfs).  The module ends with
run(globals()): every function whose name starts with test_ is run in
definition order; a test that takes a parameter `m` gets a fresh mount of a
private shm directory (see Mount).  Each result is printed, then exactly one
line "N passed, N failed" (", N skipped" when some were skipped).  Exit 1 on
any failure, 77 (meson's "skipped") when FUSE cannot be used here, unless
CI=true, where that is a failure.

What the harness guarantees, whatever happens to a test:
  - every mount it made is unmounted (fusermount3 -u, then umount -l), every
    daemon it started is killed, every tmpfs it mounted is unmounted, every
    directory it made is removed, and every /dev/shm entry named
    shmfs_test_<pid>_* is removed - at normal exit, on an exception, and on
    SIGTERM/SIGINT (the signal is handled on a watchdog thread, so even a
    test stuck inside a FUSE request is cleaned up); a killed daemon that
    cannot finish exiting gets its FUSE connection aborted
    (abort_fuse_connection), which frees every process stuck on it;
  - a test that runs past its time limit gets its daemons SIGKILLed (which
    fails every FUSE request it is stuck in) and is reported as failed;
  - a daemon that died during a test, exited non-zero after a clean unmount,
    or printed a sanitizer report fails the test.
"""
import ctypes
import errno
import gc
import inspect
import json
import mmap
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from multiprocessing import resource_tracker, shared_memory

SHMFS = None          # path of the daemon, set by run()
WRAPPER = ()          # argv prefix the daemon runs under (Mount(wrapper=))
PID = os.getpid()
PREFIX = "shmfs_test_%d_" % PID
REAL_SHM = "/dev/shm"
NOBODY_UID = 65534
NOBODY_GID = 65534

# CPython 3.11 registers every SharedMemory it opens (even attached ones)
# with the resource tracker, which unlinks them at exit.  The harness removes
# its own segments itself, so the tracker is kept out of the way.
resource_tracker.register = lambda name, rtype: None
resource_tracker.unregister = lambda name, rtype: None


class Skip(Exception):
    """Raise to report a test as skipped."""


class TestFailure(AssertionError):
    pass


# ---------------------------------------------------------------------------
# Assertions


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def eq(got, want, what):
    if got != want:
        g, w = repr(got), repr(want)
        if len(g) > 300:
            g = g[:300] + "..."
        if len(w) > 300:
            w = w[:300] + "..."
        raise TestFailure("%s: got %s, want %s" % (what, g, w))


def ename(e):
    return errno.errorcode.get(e, str(e))


def errno_of(fn, *args, **kw):
    """Call fn; return None if it succeeded, else the errno of its OSError."""
    try:
        fn(*args, **kw)
    except OSError as e:
        return e.errno
    return None


def expect_errno(allowed, fn, *args, what=None, **kw):
    """fn(*args) must fail with one of the errno values in allowed (an int
    or a collection).  Returns the errno's name (to be reported)."""
    if isinstance(allowed, int):
        allowed = (allowed,)
    what = what or getattr(fn, "__name__", "call")
    try:
        fn(*args, **kw)
    except OSError as e:
        if e.errno not in allowed:
            raise TestFailure("%s: failed with %s (%s), want %s" % (
                what, ename(e.errno), e.strerror,
                "/".join(ename(a) for a in allowed)))
        return ename(e.errno)
    raise TestFailure("%s: succeeded, want %s" % (
        what, "/".join(ename(a) for a in allowed)))


def note(text):
    """A remark printed under the test's result line (e.g. which errno)."""
    _state["notes"].append(text)


def poll_until(cond, deadline_s, interval=0.002):
    """Call cond() until it returns a true value or deadline_s passes.
    Returns (value, seconds_taken); value is the last (false) result on
    timeout."""
    t0 = time.monotonic()
    while True:
        try:
            v = cond()
        except OSError:
            v = None
        t = time.monotonic() - t0
        if v:
            return v, t
        if t > deadline_s:
            return v, t
        time.sleep(interval)


def latencies(samples, what, limit):
    """The spec's limit holds for (almost) every round.  One round in ten
    may be late by scheduling noise on a loaded machine (noted, with the
    load average), but never by more than 5x: a missed invalidation would
    show as a whole cache timeout (about a second)."""
    worst = max(samples)
    late = [t for t in samples if t > limit]
    note("%s: worst %.1f ms, median %.1f ms over %d rounds%s" % (
        what, worst * 1e3, sorted(samples)[len(samples) // 2] * 1e3,
        len(samples), "; %d late (load %.1f)" % (
            len(late), os.getloadavg()[0]) if late else ""))
    check(len(late) <= max(1, len(samples) // 10),
          "%s: %d of %d rounds took over %.0f ms (worst %.1f ms)" % (
              what, len(late), len(samples), limit * 1e3, worst * 1e3))
    check(worst <= 5 * limit, "%s took %.1f ms (> 5 x %.0f ms)" % (
        what, worst * 1e3, limit * 1e3))


# ---------------------------------------------------------------------------
# Bookkeeping for cleanup (normal, exceptional, and on signals)

_lock = threading.RLock()
_live_mounts = []      # Mount objects not yet stopped
_tmpfs_mounts = []     # tmpfs mountpoints made by the harness
_dirs = []             # directories to remove at exit
_base_dir = None
_counter = [0]
_shutting_down = [False]   # set by emergency_cleanup: no new mounts after


def _refuse_if_shutting_down():
    if _shutting_down[0]:
        raise TestFailure("the harness is shutting down")


def new_name(tag="x"):
    """A unique name for anything the tests put in the real /dev/shm."""
    with _lock:
        _counter[0] += 1
        return "%s%s%d" % (PREFIX, tag, _counter[0])


def base_dir():
    """/tmp/shmfs_test_<pid>_XXXX, mode 0755 so that nobody can traverse."""
    global _base_dir
    with _lock:
        if _base_dir is None:
            _base_dir = tempfile.mkdtemp(prefix=PREFIX, dir="/tmp")
            os.chmod(_base_dir, 0o755)
            _dirs.append(_base_dir)
        return _base_dir


def new_shm_dir(mode=0o1777):
    """A private shm directory on tmpfs: /dev/shm/shmfs_test_<pid>_dN."""
    path = os.path.join(REAL_SHM, new_name("d"))
    os.mkdir(path)
    os.chmod(path, mode)
    with _lock:
        _dirs.append(path)
    return path


def new_dir(tag="m", mode=0o755):
    path = os.path.join(base_dir(), new_name(tag))
    os.mkdir(path)
    os.chmod(path, mode)
    return path


def mount_tmpfs(size="1m", mode=0o1777):
    """A small tmpfs (for ENOSPC); unmounted at cleanup."""
    path = new_dir("t")
    with _lock:
        _refuse_if_shutting_down()
        _tmpfs_mounts.append(path)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                            "size=%s,mode=%o" % (size, mode), "tmpfs", path],
                           capture_output=True, text=True)
        if r.returncode != 0:
            _tmpfs_mounts.remove(path)
            raise Skip("cannot mount a tmpfs: %s" % r.stderr.strip())
    return path


def umount_tmpfs(path):
    subprocess.run(["umount", path], capture_output=True)
    if is_mounted(path):
        subprocess.run(["umount", "-l", path], capture_output=True)
    with _lock:
        if path in _tmpfs_mounts:
            _tmpfs_mounts.remove(path)


# ---------------------------------------------------------------------------
# Mount table


def _unescape(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mountinfo():
    """Entries of /proc/self/mountinfo as dicts."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.rstrip("\n").partition(" - ")
            l, r = left.split(" "), right.split(" ")
            out.append({
                "id": l[0], "majmin": l[2], "root": _unescape(l[3]),
                "mountpoint": _unescape(l[4]), "mntopts": l[5],
                "fstype": r[0], "source": _unescape(r[1]),
                "superopts": r[2] if len(r) > 2 else "",
            })
    return out


def mount_entry(path, fstype="fuse.shmfs"):
    """The last (topmost) mountinfo entry at path with that fstype."""
    found = None
    for e in mountinfo():
        if e["mountpoint"] == path and (fstype is None or e["fstype"] == fstype):
            found = e
    return found


def is_mounted(path, fstype=None):
    return mount_entry(path, fstype) is not None


def force_unmount(path):
    """fusermount3 -u, then umount -l; returns True when nothing is left."""
    for cmd in (["fusermount3", "-u", path], ["fusermount3", "-u", "-z", path],
                ["umount", "-l", path]):
        if not is_mounted(path, None) or not _is_fuse(path):
            return True
        try:
            subprocess.run(cmd, capture_output=True, timeout=20)
        except subprocess.TimeoutExpired:
            pass
    return not _is_fuse(path)


def fuse_connection(path):
    """/sys/fs/fuse/connections/N of the FUSE mount at path (N is the
    kernel's dev_t of the mount), or None."""
    e = mount_entry(path, None)
    if e is None or not e["fstype"].startswith("fuse"):
        return None
    major, minor = (int(x) for x in e["majmin"].split(":"))
    return "/sys/fs/fuse/connections/%d" % ((major << 20) | minor)


def abort_fuse_connection(conn):
    """Abort a FUSE connection (echo 1 > conn/abort): every request
    waiting on it fails at once.  This frees processes stuck on a daemon
    that cannot finish exiting (a SIGKILLed daemon with a thread blocked
    in the kernel).  Mounts fusectl for the moment if it is not mounted.
    Returns True if the connection was aborted."""
    if conn is None:
        return False
    base = os.path.dirname(conn)
    mounted = False
    if not os.path.exists(conn) and not is_mounted(base, "fusectl"):
        mounted = subprocess.run(["mount", "-t", "fusectl", "none", base],
                                 capture_output=True).returncode == 0
    try:
        with open(os.path.join(conn, "abort"), "w") as f:
            f.write("1")
        return True
    except OSError:
        return False
    finally:
        if mounted:
            subprocess.run(["umount", base], capture_output=True)


def _is_fuse(path):
    e = mount_entry(path, None)
    return e is not None and e["fstype"].startswith("fuse")


def pids_of_daemon(mountpoint):
    """Pids of processes running SHMFS whose command line names mountpoint
    (finds a daemonized shmfs), its reaper left out."""
    pids = []
    exe_name = os.path.basename(SHMFS or "shmfs")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0]:
            continue
        if os.path.basename(argv[0].decode(errors="replace")) != exe_name:
            continue
        if mountpoint.encode() in argv:
            pids.append(int(d))
    # The daemon's reaper, between its fork and its exec (when it becomes
    # "shmfs-reaper"), has the daemon's command line: leave out a child of
    # a process found.
    return [p for p in pids if _ppid(p) not in pids]


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def proc_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
        return st != "Z"
    except OSError:
        return False


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def thread_count(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def kernel_stack(pid, tid=None):
    """Thread tid's (default: pid's own) kernel stack, as
    /proc/PID/task/TID/stack shows it; "" once it is gone."""
    try:
        with open("/proc/%d/task/%s/stack" % (pid, tid or pid)) as f:
            return f.read()
    except OSError:
        return ""


def thread_stacks(pid):
    """Each thread's state and the top of its kernel stack: a list of
    "thread T S top"."""
    out = []
    try:
        tids = sorted(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return ["process %d is gone" % pid]
    for t in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        top = kernel_stack(pid, t).partition("\n")[0].strip()
        out.append("thread %s %s %s" % (t, state, top))
    return out


STATS_ATTR = "user.shmfs.stats"
STATS_KEYS = ("nodes", "handles", "open_files", "backing_ids", "list_maps")


def parse_stats(raw):
    """The value of user.shmfs.stats ("nodes=N handles=N ...") as a dict
    of ints."""
    out = {}
    for kv in raw.decode().split():
        k, _, v = kv.partition("=")
        out[k] = int(v)
    return out


ENABLE_URING = "/sys/module/fuse/parameters/enable_uring"


def uring_setting():
    """'Y' or 'N', or None when the kernel has no FUSE io_uring."""
    try:
        with open(ENABLE_URING) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def require_uring():
    """Skip unless the kernel offers FUSE io_uring; under CI=true a kernel
    that has it must have it on (scripts/setup.sh's job)."""
    v = uring_setting()
    if v is None:
        raise Skip("this kernel has no FUSE io_uring (%s)" % ENABLE_URING)
    if v != "Y":
        if os.environ.get("CI") == "true":
            raise TestFailure("%s is %s under CI=true: scripts/setup.sh "
                              "should have turned it on" % (ENABLE_URING, v))
        raise Skip("%s is %s (scripts/setup.sh turns it on)"
                   % (ENABLE_URING, v))


def transport(m):
    """user.shmfs.transport: ("io_uring", {queues, threads, requests}) or
    ("/dev/fuse", {})."""
    kind, _, rest = os.getxattr(m.mnt, "user.shmfs.transport").partition(
        b" ")
    return kind.decode(), parse_stats(rest)


def daemon_stats(mnt):
    """user.shmfs.stats of the mount at mnt as a dict of ints; OSError as
    os.getxattr raises it."""
    return parse_stats(os.getxattr(mnt, STATS_ATTR))


# ---------------------------------------------------------------------------
# A mounted shmfs


SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|"
                          r"runtime error:|ThreadSanitizer")


class Mount:
    """One shmfs daemon and its mount.

    Mount(shm_dir=None, ...) with shm_dir None makes a private shm directory
    (mode 1777 on tmpfs).  Options: foreground (the daemon stays in front,
    default; -f is passed unless pass_f=False), debug (-d),
    allow_other (-o allow_other), opts (more -o options), extra_args,
    use_shm_dir_flag (False: no --shm-dir, the default /dev/shm),
    wrapper (a command the daemon runs under, e.g. ["valgrind", ...];
    default: the module's WRAPPER).

    m.mnt is the mountpoint, m.shm the shm directory, m.pid the daemon,
    m.path(name) / m.shm_path(name) join names.  Leaving the `with` block
    checks that the daemon is still alive (unless m.expect_dead was set),
    unmounts with fusermount3 -u, and checks that the daemon exited 0.
    """

    def __init__(self, shm_dir=None, foreground=True, debug=False,
                 allow_other=False, opts=(), extra_args=(),
                 use_shm_dir_flag=True, mountpoint=None, start=True,
                 pass_f=None, shm_arg=None, cwd=None, user=None,
                 wrapper=None):
        self.wrapper = list(WRAPPER if wrapper is None else wrapper)
        self.shm = shm_dir if shm_dir is not None else new_shm_dir()
        self.mnt = mountpoint or new_dir("m")
        self.foreground = foreground
        # -f is passed when the daemon should stay in the foreground, unless
        # a test wants it otherwise (-d alone must also stay in front).
        self.pass_f = foreground if pass_f is None else pass_f
        self.shm_arg = shm_arg if shm_arg is not None else self.shm
        self.cwd = cwd
        # "nobody": run the daemon as nobody:nogroup;
        # "root-without-sys-admin": as root without CAP_SYS_ADMIN
        self.user = user
        self.debug = debug
        self.opts = list(opts)
        if allow_other:
            self.opts.append("allow_other")
        self.extra_args = list(extra_args)
        self.use_shm_dir_flag = use_shm_dir_flag
        self.proc = None
        self.pid = None
        self.log_path = os.path.join(base_dir(), new_name("log") + ".log")
        self.expect_dead = False   # set by a test that kills the daemon
        self.stopped = False
        self.exit_code = None
        if start:
            self.start()

    # paths
    def path(self, *names):
        return os.path.join(self.mnt, *names)

    def shm_path(self, *names):
        return os.path.join(self.shm, *names)

    def argv(self):
        a = self.wrapper + [SHMFS]
        if self.use_shm_dir_flag:
            a += ["--shm-dir", self.shm_arg]
        if self.pass_f:
            a.append("-f")
        if self.debug:
            a.append("-d")
        if self.opts:
            a += ["-o", ",".join(self.opts)]
        a = a + self.extra_args + [self.mnt]
        if self.user == "nobody":
            return nobody_argv(a)
        if self.user == "root-without-sys-admin":
            # Passthrough needs CAP_SYS_ADMIN; mount(2) too, so libfuse
            # falls back to the setuid fusermount3.
            return ["setpriv", "--bounding-set=-sys_admin",
                    "--inh-caps=-sys_admin", "--"] + a
        return a

    def start(self, timeout=15):
        self.stopped = False
        self.expect_dead = False
        self.exit_code = None
        log = open(self.log_path, "ab")
        argv = self.argv()
        log.write(("### %s\n" % " ".join(argv)).encode())
        log.flush()
        # Under the lock, so that emergency_cleanup either sees this daemon
        # or keeps it from starting.
        with _lock:
            _refuse_if_shutting_down()
            if self not in _live_mounts:
                _live_mounts.append(self)
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log,
                                         cwd=self.cwd)
        log.close()
        if self.foreground:
            self.pid = self.proc.pid
            t0 = time.monotonic()
            while not is_mounted(self.mnt):
                if self.proc.poll() is not None:
                    raise TestFailure(
                        "shmfs exited with %s before mounting %s\n%s" % (
                            self.proc.returncode, self.mnt, self.log_tail()))
                if time.monotonic() - t0 > timeout:
                    other = mount_entry(self.mnt, None)
                    extra = ""
                    if other is not None:
                        extra = " (there is a %s mount there, source %s)" % (
                            other["fstype"], other["source"])
                    raise TestFailure("shmfs did not mount %s as fuse.shmfs "
                                      "within %d s%s\n%s" % (
                                          self.mnt, timeout, extra,
                                          self.log_tail()))
                time.sleep(0.005)
        else:
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise TestFailure("shmfs (daemon mode) did not return within "
                                  "%d s\n%s" % (timeout, self.log_tail()))
            if rc != 0:
                raise TestFailure("shmfs (daemon mode) exited %d\n%s" % (
                    rc, self.log_tail()))
            if not is_mounted(self.mnt):
                raise TestFailure("shmfs (daemon mode) returned 0 but %s is "
                                  "not mounted yet" % self.mnt)
            pids = pids_of_daemon(self.mnt)
            if len(pids) != 1:
                raise TestFailure("cannot find the daemonized shmfs for %s: "
                                  "pids %s" % (self.mnt, pids))
            self.pid = pids[0]
        return self

    def alive(self):
        if self.foreground:
            return self.proc is not None and self.proc.poll() is None
        return self.pid is not None and proc_alive(self.pid)

    def wait_exit(self, timeout):
        """Wait for the daemon to exit; returns its exit code (foreground:
        the real code; daemon mode: 0 if it went away), None on timeout."""
        if self.foreground:
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        t0 = time.monotonic()
        while proc_alive(self.pid):
            if time.monotonic() - t0 > timeout:
                return None
            time.sleep(0.01)
        return 0

    def kill(self, sig=signal.SIGKILL):
        if self.pid is not None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        lines = self.log_text().splitlines()
        return "--- daemon log (%s), last %d lines ---\n%s" % (
            self.log_path, min(n, len(lines)), "\n".join(lines[-n:]))

    def stop(self, check=True):
        """Unmount and reap.  With check, raise TestFailure if the daemon
        had died, does not exit 0, or printed a sanitizer report."""
        if self.stopped:
            return
        problems = []
        died = not self.alive()
        if died and not self.expect_dead:
            rc = self.proc.poll() if self.foreground else "?"
            problems.append("the daemon died during the test (exit status "
                            "%s)" % rc)
        if is_mounted(self.mnt, None) and _is_fuse(self.mnt):
            r = subprocess.run(["fusermount3", "-u", self.mnt],
                               capture_output=True, text=True, timeout=30)
            if r.returncode != 0 and not died:
                problems.append("fusermount3 -u %s failed: %s" % (
                    self.mnt, r.stderr.strip()))
            if not force_unmount(self.mnt):
                problems.append("could not unmount %s" % self.mnt)
        rc = self.wait_exit(10)
        if rc is None:
            problems.append("the daemon did not exit within 10 s of the "
                            "unmount; killed")
            self.kill(signal.SIGKILL)
            rc = self.wait_exit(5)
        elif not died and not self.expect_dead and rc != 0:
            problems.append("the daemon exited %s after fusermount3 -u "
                            "(want 0)" % rc)
        self.exit_code = rc
        self.stopped = True
        with _lock:
            if self in _live_mounts:
                _live_mounts.remove(self)
        if SANITIZER_RE.search(self.log_text()):
            problems.append("sanitizer report in the daemon's log")
        if check and problems:
            raise TestFailure("; ".join(problems) + "\n" + self.log_tail())

    def remount(self):
        """Start a new daemon on the same mountpoint and shm dir."""
        self.start()

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        # On an exception the runner stops the mount later, once the
        # traceback (and the fds and mappings its frames hold) is gone.
        if et is None:
            self.stop(check=True)
        return False


def emergency_cleanup():
    """Kill and unmount everything the harness made.  Safe to call from any
    thread, more than once."""
    with _lock:
        _shutting_down[0] = True
        mounts = list(_live_mounts)
        tmpfs = list(_tmpfs_mounts)
        dirs = list(_dirs)
    for m in mounts:
        # Killing the daemon first fails every request a test may be stuck
        # in, so nothing below can hang on the mount.  A daemon-mode launch
        # may not have told us its pid yet: look for it by mountpoint too.
        pids = set(pids_of_daemon(m.mnt))
        if m.pid is not None:
            pids.add(m.pid)
        if m.proc is not None and m.proc.poll() is None:
            pids.add(m.proc.pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for m in mounts:
        conn = fuse_connection(m.mnt)
        force_unmount(m.mnt)
        if m.proc is not None:
            try:
                m.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                # killed but not gone: a thread blocked in the kernel on
                # the connection; aborting it frees everyone
                if abort_fuse_connection(conn):
                    try:
                        m.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
        with _lock:
            if m in _live_mounts:
                _live_mounts.remove(m)
    for t in tmpfs:
        umount_tmpfs(t)
    # Anything of ours still mounted somewhere below our directories.
    for e in reversed(mountinfo()):
        mp = e["mountpoint"]
        if any(mp == d or mp.startswith(d + "/") for d in dirs):
            force_unmount(mp)
            subprocess.run(["umount", "-l", mp], capture_output=True)
    for d in reversed(dirs):
        shutil.rmtree(d, ignore_errors=True)
    with _lock:
        for d in dirs:
            if d in _dirs and not os.path.exists(d):
                _dirs.remove(d)
    try:
        names = os.listdir(REAL_SHM)
    except OSError:
        names = []
    for n in names:
        if n.startswith(PREFIX):
            p = os.path.join(REAL_SHM, n)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                try:
                    os.unlink(p)
                except OSError:
                    pass


# ---------------------------------------------------------------------------
# Watchdog: per-test deadlines, and SIGTERM/SIGINT handled off the main
# thread (the main thread may be blocked in a FUSE request).

_state = {"deadline": None, "name": None, "timed_out": False, "notes": [],
          "counts": (0, 0, 0)}


class Interrupted(BaseException):
    """SIGTERM/SIGINT/SIGHUP arrived: stop testing, clean up, exit 1."""


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _ignore_signal(signum, frame):
    pass


def _on_signal(signum, frame):
    # Once: the cleanup that follows must not be interrupted again.  (A
    # Python-level no-op, not SIG_IGN: CPython raises "ignored due to race
    # condition" for a signal already pending when it becomes SIG_IGN.)
    for s in _STOP_SIGNALS:
        signal.signal(s, _ignore_signal)
    raise Interrupted(signal.Signals(signum).name)


def _stop_signal_pending():
    """True if SIGTERM/SIGINT/SIGHUP is pending but not yet handled: the
    main thread is stuck in a FUSE request (a killable wait), so Python's
    handler cannot run."""
    mask = 0
    for s in _STOP_SIGNALS:
        mask |= 1 << (s - 1)
    for path in ("/proc/self/status", "/proc/self/task/%d/status" % PID):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(("ShdPnd:", "SigPnd:")):
                        if int(line.split()[1], 16) & mask:
                            return True
        except OSError:
            pass
    return False


def _kill_daemons():
    with _lock:
        mounts = list(_live_mounts)
    for m in mounts:
        m.kill(signal.SIGKILL)


def _watchdog(rfd):
    """Runs beside the tests.  Past a test's deadline it kills the daemons
    (every FUSE request the test is stuck in then fails).  On a signal the
    main thread gets Interrupted and cleans up; if it is stuck in a FUSE
    request, the daemons are killed after 2 s to free it, and if it still
    has not finished after 15 s, the cleanup is done from here."""
    signalled = None
    while True:
        r, _, _ = select.select([rfd], [], [], 0.2)
        if r:
            os.read(rfd, 64)
            if signalled is None:
                signalled = time.monotonic()
        if signalled is None and _stop_signal_pending():
            signalled = time.monotonic()
        if signalled is not None:
            waited = time.monotonic() - signalled
            if waited > 2 and not _state.get("signal_killed"):
                _state["signal_killed"] = True
                _kill_daemons()
            if waited > 15:
                sys.stdout.write("\ninterrupted during %s: the tests did not "
                                 "stop; cleaning up\n" % _state["name"])
                emergency_cleanup()
                p, f, sk = _state["counts"]
                line = "%d passed, %d failed" % (p, f + 1)
                if sk:
                    line += ", %d skipped" % sk
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
                os._exit(1)
            continue
        d = _state["deadline"]
        if d is not None and time.monotonic() > d and not _state["timed_out"]:
            _state["timed_out"] = True
            sys.stdout.write("  (%s ran past its time limit: killing its "
                             "daemons)\n" % _state["name"])
            sys.stdout.flush()
            _kill_daemons()


def _install_signals():
    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    for s in _STOP_SIGNALS:
        signal.signal(s, _on_signal)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    t = threading.Thread(target=_watchdog, args=(rfd,), daemon=True)
    t.start()


# ---------------------------------------------------------------------------
# Helpers the tests share


def sh(cmd, timeout=60, user=None, shell="sh"):
    """Run cmd with sh -c (or bash); returns CompletedProcess (bytes)."""
    argv = [shell, "-c", cmd]
    if user == "nobody":
        argv = nobody_argv(argv)
    return subprocess.run(argv, capture_output=True, timeout=timeout)


def nobody_argv(argv):
    return ["setpriv", "--reuid=%d" % NOBODY_UID, "--regid=%d" % NOBODY_GID,
            "--clear-groups", "--"] + list(argv)


NOBODY_PRELUDE = r'''
import errno, json, os, sys
def t(f, *a, **k):
    try:
        r = f(*a, **k)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
def rd(p):
    with open(p, "rb") as f:
        return f.read()
def wr(p, data):
    fd = os.open(p, os.O_WRONLY)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
R = {}
'''


def _max_in_flight(log):
    """From a -d log: the most requests seen at once between a request line
    and its reply line."""
    open_ = set()
    best = 0
    for line in log.splitlines():
        mreq = re.match(r"unique: (\d+), opcode: (\w+)", line)
        if mreq:
            if mreq.group(2) not in ("FORGET", "BATCH_FORGET", "INTERRUPT"):
                open_.add(mreq.group(1))
                best = max(best, len(open_))
            continue
        mrep = re.match(r"\s+unique: (\d+), (success|error)", line)
        if mrep:
            open_.discard(mrep.group(1))
    return best


def max_in_flight_under_load(m, seconds=2.0, procs=6):
    """Run opens, closes and failed stats in procs processes for seconds on
    the -d mount m; return the most requests the daemon had at once."""
    for i in range(procs):
        write_file(m.shm_path("c%d" % i), b"x" * 64)
    stop = time.monotonic() + seconds

    def load(i):
        p = m.path("c%d" % i)
        while time.monotonic() < stop:
            os.close(os.open(p, os.O_RDONLY))
            try:
                os.stat(m.path("missing%d" % i))
            except FileNotFoundError:
                pass
    # Processes, not threads: the GIL would serialise the callers.
    pids = []
    for i in range(procs):
        pid = os.fork()
        if pid == 0:
            try:
                load(i)
                os._exit(0)
            except BaseException:
                os._exit(1)
        pids.append(pid)
    for pid in pids:
        _, st = os.waitpid(pid, 0)
        eq(os.waitstatus_to_exitcode(st), 0, "load process status")
    return _max_in_flight(m.log_text())


def as_nobody(code, timeout=60, umask=None):
    """Run python code as nobody:nogroup; the code fills the dict R, which
    is returned (parsed from JSON)."""
    return python_as(nobody_argv, "nobody", code, timeout, umask)


def python_as(wrap, who, code, timeout=60, umask=None):
    """Run python code under the argv wrapper wrap(argv) (setpriv, say),
    after NOBODY_PRELUDE; the code fills the dict R, which is returned
    (parsed from JSON).  who names the caller in errors."""
    body = NOBODY_PRELUDE
    if umask is not None:
        body += "os.umask(0o%o)\n" % umask
    body += code + "\nprint(json.dumps(R))\n"
    r = subprocess.run(wrap([sys.executable, "-c", body]),
                       capture_output=True, text=True, timeout=timeout,
                       cwd="/")
    if r.returncode != 0:
        raise TestFailure("python as %s failed (%d): %s" % (
            who, r.returncode, r.stderr.strip()[-2000:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def write_file(path, data, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, mode)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


def renameat2(old, new, flags):
    """renameat2(2) (Python has no wrapper); OSError with both names."""
    fn = _libc.renameat2    # looked up here: only a caller needs it
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                   ctypes.c_char_p, ctypes.c_uint]
    if fn(AT_FDCWD, old.encode(), AT_FDCWD, new.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old, None, new)


def cpython_list_bytes(values):
    """The exact bytes CPython's ShareableList writes for values (made in
    the real /dev/shm under a shmfs_test_ name, copied, unlinked)."""
    name = new_name("tmpl")
    sl = shared_memory.ShareableList(values, name=name)
    try:
        data = bytes(sl.shm.buf)
        fmt = sl.format
    finally:
        sl.shm.close()
        sl.shm.unlink()
    return data, fmt


class _FileShm:
    """Stands in for SharedMemory so CPython's ShareableList can work on a
    file of a private shm directory, creating it as CPython does in
    /dev/shm (O_CREAT|O_EXCL, ftruncate, mmap, then the bytes through the
    mapping)."""

    def __init__(self, path, create=False, size=0):
        if create:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
            try:
                os.ftruncate(fd, size)
            except OSError:
                os.close(fd)
                os.unlink(path)
                raise
        else:
            fd = os.open(path, os.O_RDWR)
        try:
            self.size = os.fstat(fd).st_size
            self._mmap = mmap.mmap(fd, self.size)
        finally:
            os.close(fd)
        self.buf = memoryview(self._mmap)
        self.name = path
        self._name = path

    def close(self):
        if self.buf is not None:
            self.buf.release()
            self._mmap.close()
            self.buf = None

    def unlink(self):
        os.unlink(self._name)


def py_list(path, values=None):
    """CPython's own ShareableList over the file at path (made from values
    when given)."""
    orig = shared_memory.SharedMemory
    shared_memory.SharedMemory = _FileShm
    try:
        if values is None:
            return shared_memory.ShareableList(name=path)
        return shared_memory.ShareableList(values, name=path)
    finally:
        shared_memory.SharedMemory = orig


def make_list(shm_dir, name, values, mode=0o600):
    """Write CPython's bytes for a ShareableList of values into
    shm_dir/name.  Returns (bytes, format)."""
    data, fmt = cpython_list_bytes(values)
    write_file(os.path.join(shm_dir, name), data, mode)
    return data, fmt


def shown_list(m, name, values, mode=0o600):
    """A list in mount m's shm dir, waited for until it is a folder.
    Returns (bytes, format)."""
    data, fmt = make_list(m.shm, name, values, mode)
    ok, _ = poll_until(lambda: os.path.isdir(m.path(name)), 2)
    check(ok, "list %s not shown as a folder" % name)
    return data, fmt


def elem_text(v):
    """What cat of an element holding v prints (DESIGN.md)."""
    if isinstance(v, bytes):
        return v.rstrip(b"\0")
    if isinstance(v, str):
        return v.rstrip("\0").encode() + b"\n"
    if isinstance(v, bool) or v is None:
        return ("%s\n" % v).encode()
    if isinstance(v, int):
        return b"%d\n" % v
    if isinstance(v, float):
        return (repr(v) + "\n").encode()
    raise ValueError(v)


def same_value(a, b):
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------------------
# Is FUSE usable here?


def fuse_unusable_reason():
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist"
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
        os.close(fd)
    except OSError as e:
        if os.geteuid() == 0 or shutil.which("fusermount3") is None:
            return "cannot open /dev/fuse: %s" % e.strerror
    if shutil.which("fusermount3") is None:
        return "fusermount3 is not installed"
    if os.geteuid() != 0:
        return "the fs tests need root (allow_other, passthrough, tmpfs)"
    return None


# ---------------------------------------------------------------------------
# Runner


def timeout(seconds):
    def deco(fn):
        fn.timeout = seconds
        return fn
    return deco


def mount_with(**kw):
    """Options for the mount a test's `m` parameter gets."""
    def deco(fn):
        fn.mount_kw = kw
        return fn
    return deco


def _run_one(fn):
    params = inspect.signature(fn).parameters
    if "m" in params:
        with Mount(**getattr(fn, "mount_kw", {})) as m:
            fn(m)
    else:
        fn()


def _release_stray_files():
    """After a failed test: drop its mappings and close the fds it left
    open on a mount, so the unmount is not busy."""
    gc.collect()
    with _lock:
        mnts = [m.mnt + "/" for m in _live_mounts]
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if any(target.startswith(p) for p in mnts):
            try:
                os.close(int(fd))
            except OSError:
                pass


def _stop_leftovers(failed):
    """Stop mounts a test left running (it failed half-way); their teardown
    problems become notes."""
    if failed:
        _release_stray_files()
    with _lock:
        leftover = list(_live_mounts)
    for m in leftover:
        try:
            m.stop(check=True)
        except TestFailure as e:
            # with the daemon's log tail: what a daemon that died printed
            lines = str(e).splitlines()
            note("teardown: " + lines[0])
            for line in lines[1:]:
                note("  " + line)
        except Exception as e:
            note("teardown: %s: %s" % (type(e).__name__, e))


def run(namespace):
    global SHMFS
    sys.stdout.reconfigure(line_buffering=True)
    if len(sys.argv) < 2:
        print("usage: %s SHMFS [TEST-NAME-SUBSTRING ...]" % sys.argv[0])
        sys.exit(2)
    SHMFS = os.path.abspath(sys.argv[1])
    patterns = sys.argv[2:]
    tests = [(n, f) for n, f in namespace.items()
             if n.startswith("test_") and callable(f)
             and (not patterns or any(p in n for p in patterns))]

    reason = fuse_unusable_reason()
    if reason is None and not os.access(SHMFS, os.X_OK):
        reason = None  # a missing daemon is a failure, reported per test
    if reason is not None:
        if os.environ.get("CI") == "true":
            print("FAIL: FUSE is not usable here and CI=true: %s" % reason)
            print("0 passed, 1 failed")
            sys.exit(1)
        print("SKIP: FUSE is not usable here: %s" % reason)
        print("0 passed, 0 failed, %d skipped" % len(tests))
        sys.exit(77)

    os.umask(0o022)
    _install_signals()
    passed = failed = skipped = 0
    try:
        for name, fn in tests:
            _state.update(name=name, timed_out=False, notes=[],
                          counts=(passed, failed, skipped),
                          deadline=time.monotonic() + getattr(fn, "timeout",
                                                              60))
            t0 = time.monotonic()
            failed_before = failed
            try:
                _run_one(fn)
            except Skip as e:
                skipped += 1
                print("SKIP  %s: %s" % (name, e))
            except BaseException as e:
                if isinstance(e, (KeyboardInterrupt, Interrupted)):
                    raise
                failed += 1
                msg = str(e) if isinstance(e, TestFailure) else \
                    "%s: %s" % (type(e).__name__, e)
                if _state["timed_out"]:
                    msg = "timed out (daemons killed); then " + msg
                print("FAIL  %s (%.2f s): %s" % (name, time.monotonic() - t0,
                                                  msg))
                if not isinstance(e, TestFailure):
                    tb = traceback.format_exc().rstrip().splitlines()
                    print("      " + "\n      ".join(tb[-12:]))
            else:
                if _state["timed_out"]:
                    failed += 1
                    print("FAIL  %s: ran past its time limit" % name)
                else:
                    passed += 1
                    print("PASS  %s (%.2f s)" % (name, time.monotonic() - t0))
            finally:
                _state["deadline"] = None
                # A test that failed half-way may leave mounts behind.
                _stop_leftovers(failed > failed_before)
                for n in _state["notes"]:
                    print("      note: " + n)
    except (Interrupted, KeyboardInterrupt) as e:
        failed += 1
        print("FAIL  %s: interrupted (%s); cleaning up" % (_state["name"],
                                                           e or "SIGINT"))
    finally:
        emergency_cleanup()
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    sys.exit(1 if failed else 0)
