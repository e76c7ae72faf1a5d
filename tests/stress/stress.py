#!/usr/bin/python3
"""stress.py - issue 5, "Load": shmfs under many processes at once.

    stress.py SHMFS [--procs N] [--seconds S] [--kill] [--wrapper CMD]
                    [--seed X]

Mounts SHMFS over a private shm directory (tests/fs/shmfs_harness.py: every
mount, daemon, directory and segment is removed whatever happens) and forks
N worker processes (default 16) for S seconds (default 10).  Of 16: 6 work
through the mount, 4 directly in the shm directory, 3 write list elements
through the mount's element files and 3 through CPython's own
ShareableList (the shares scale with N).  Each worker owns its names (a
prefix per worker) and keeps a model of what every one of them holds:

  - segment workers: create, pwrite, mmap-write (MAP_SHARED, kept mapped
    for a while), verify (read through the mount, directly and through a
    mapping), truncate (grow / shrink), rename (replace, RENAME_NOREPLACE,
    RENAME_EXCHANGE), unlink, chmod, scan (ls -l), and requests that must
    fail (ENOENT, EEXIST, EPERM).  A mount worker checks every change in
    the shm directory at once; a direct worker checks it through the mount:
    data at once (passthrough: the same pages), metadata (names, sizes,
    modes) polled for up to 1 s, and every view slower than the spec's
    100 ms is counted and reported.
  - list workers: lists made by CPython's ShareableList (int, float, bool,
    None, str, bytes) in the shm directory; each element is owned by one
    worker.  A pair of workers (one of each kind) shares list P<k>, each
    owning every other element, and each also makes and destroys lists of
    its own.  The mount side writes element text (`echo`: open O_TRUNC,
    one write, close) and checks `cat` and CPython's sl[i]; it also writes
    text that must be refused (EINVAL, ERANGE, EFBIG) and checks the value
    was kept.  The Python side stores sl[i] (changing element types) and
    checks `cat` through the mount at once (element files are never
    cached).

Every read is compared with the model: zero mismatches, zero unexpected
errors, zero crashed or hung workers are required.  Afterwards the whole
tree is checked through the mount (names, sizes, contents, list elements),
everything is removed, and the daemon must return to where it started:
same fd count and same user.shmfs.stats (nodes, handles, open files,
backing ids, list maps), and its RSS within RSS_SLACK_MIB of the start.
The daemon is sampled every SAMPLE_S seconds; start / peak / end are
printed.

--kill: at a random point in the middle of the run the daemon is
SIGKILLed while the workers run.  Mount requests then fail with ENOTCONN
or ECONNABORTED (expected from then on; a request whose reply the kill
took may or may not have taken effect, and either is accepted).  Each
worker at once checks every segment and element its model holds against
the shm directory: what differs is "lost" (must be 0 bytes in 0
segments).  Mount workers keep writing and reading the mappings they hold
of mount files (and their open mount fds), checking each write in the
shm directory; direct and Python workers go on as before.  At the end the
dead mount is unmounted, a new daemon mounted on the same directories,
and the new mount must show every segment and list exactly.  A daemon
that does not finish dying within 10 s (a thread blocked in the kernel,
see repro_kill_deadlock.py) fails the run; its FUSE connection is then
aborted so that nothing stays stuck.

--wrapper CMD: run the daemon under CMD (e.g. "valgrind --error-exitcode=99
--leak-check=full --errors-for-leak-kinds=definite"); the daemon must exit
0 after the unmount (the harness checks it) and, for valgrind, its log
must show no error and no definite leak.

Self-test of the checks (STRESS_INJECT in the environment): "corrupt"
flips one byte of a direct worker's segment behind its model (a mismatch
must be reported); "leak" keeps one mount file open and mapped through
the leak check (the check must fail); "lose" (with --kill) cuts 100 bytes
off a segment at the kill (lost must not be 0).  Debugging aids:
STRESS_ROLES=M,D,P (worker counts), STRESS_SKIP=op,op (ops left out),
STRESS_DAEMON_ARGS (e.g. -d), STRESS_KEEP_LOG=FILE (copy of the daemon's
log), STRESS_HIST=1 (sizes each name went through, in mismatch reports).
"""
import argparse
import ctypes
import errno
import hashlib
import json
import mmap
import os
import random
import re
import shlex
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fs"))
import shmfs_harness as H  # noqa: E402

CONN = (errno.ENOTCONN, errno.ECONNABORTED)
META_SPEC = 0.100   # direct changes show on the mount within this (spec)
META_WAIT = 1.0     # ... polled this long before it is a failure
LIST_WAIT = 2.0     # a list made directly shows as a folder (the daemon
                    # looks at a resized segment's kind 20 and 500 ms later)
MAX_FILES = 5       # segments per segment worker
MAX_SIZE = 192 << 10
MAX_LIVE = 3        # mappings a segment worker keeps
MAX_PRIVATE = 2     # lists of its own a list worker keeps
MAX_REPORT = 12     # problems a worker reports in detail
SAMPLE_S = 0.3
SETTLE_S = 10.0
# RSS after the load, once everything is removed, may exceed the start by
# this much (plain builds; ASan and valgrind keep freed memory on purpose).
# Why not 0: the daemon starts with one request thread and libfuse starts
# up to 10 under load, each with a 132 KiB request buffer; glibc gives
# threads their own malloc arenas and keeps what a thread touched there
# after free(), and the thread stacks touched stay resident while libfuse
# keeps idle threads.  That is bounded by the thread count, not by the
# work done.  Measured on the 2-core development VM: start 2.2-2.4 MiB, end
# 0.7-0.9 MiB above it, the same after 10 s (45,000 operations) as after
# 60 s (380,000).  A leak grows with the operations: 3 MiB over 380,000 is
# 8 bytes each, and a leak of a node, fd or backing id is caught exactly by
# the fd and user.shmfs.stats checks; ASan's LeakSanitizer and valgrind
# (scripts/stress.sh --asan / --valgrind) catch the rest.
RSS_SLACK_MIB = 3

PAIR_VALUES = [7, -3, 2.5, 1e-7, True, False, None, None,
               "pair-string-16ch", "eight-ch", b"bytes8by", b"\x01\x02",
               10 ** 12, 1.5, "x" * 30, b"y" * 20]

TYPE_NAME = {int: "int", float: "float", bool: "bool", str: "str",
             bytes: "bytes", type(None): "None"}

_libc = ctypes.CDLL(None, use_errno=True)


class DaemonGone(Exception):
    """A mount request failed because the daemon was killed (--kill)."""


class Mismatch(Exception):
    pass


def read_path(path):
    with open(path, "rb", buffering=0) as f:
        return f.readall()


def diff_bytes(want, got):
    """How many bytes of want are not in got (absent: all of them)."""
    if want is None:
        return 0
    if got is None:
        return len(want)
    n = min(len(want), len(got))
    d = abs(len(want) - len(got))
    if want[:n] != got[:n]:
        import numpy as np
        a = np.frombuffer(bytes(want[:n]), dtype=np.uint8)
        b = np.frombuffer(bytes(got[:n]), dtype=np.uint8)
        d += int(np.count_nonzero(a != b))
    return d


def first_diff(want, got):
    n = min(len(want), len(got))
    for i in range(n):
        if want[i] != got[i]:
            return "byte %d: %#04x, want %#04x" % (i, got[i], want[i])
    return "size %d, want %d" % (len(got), len(want))


def not_a_list(size):
    """A segment worker's sizes skip 16: 16 zero bytes are CPython's empty
    ShareableList, which the mount rightly shows as a folder."""
    return 17 if size == 16 else size


def slot_of(sl, i):
    return sl._allocated_offsets[i + 1] - sl._allocated_offsets[i]


def norm(v):
    """What reading back a stored v gives (CPython strips trailing NULs)."""
    if isinstance(v, bytes):
        return v.rstrip(b"\0")
    if isinstance(v, str):
        return v.rstrip("\0")
    return v


# ---------------------------------------------------------------------------
# Control page shared by the parent and the workers (MAP_SHARED anonymous,
# made before the fork): byte 0 stop, byte 1 daemon killed, then one u64
# operation counter per worker (progress).


class Control:
    def __init__(self, nworkers):
        self.mm = mmap.mmap(-1, 64 + 8 * nworkers)

    @property
    def stop(self):
        return self.mm[0] != 0

    @property
    def killed(self):
        return self.mm[1] != 0

    @property
    def killing(self):
        """Set just before the SIGKILL (killed: once the daemon is gone)."""
        return self.mm[2] != 0

    def set_killing(self):
        self.mm[2] = 1

    def set_stop(self):
        self.mm[0] = 1

    def set_killed(self):
        self.mm[1] = 1

    def bump(self, i, n):
        struct.pack_into("Q", self.mm, 64 + 8 * i, n)

    def count(self, i):
        return struct.unpack_from("Q", self.mm, 64 + 8 * i)[0]


# ---------------------------------------------------------------------------
# Workers


class Worker:
    role = "?"
    tag = "w"

    def __init__(self, idx, cfg, ctl):
        self.idx, self.cfg, self.ctl = idx, cfg, ctl
        self.mnt, self.shm = cfg["mnt"], cfg["shm"]
        self.kill_mode = cfg["kill"]
        self.prefix = "%s%02d_" % (self.tag, idx)
        self.rnd = random.Random("%s/%d" % (cfg["seed"], idx))
        self.ops = Counter()
        self.expected = Counter()
        self.n_unexpected = 0
        self.n_mismatch = 0
        self.details = []
        self.lat = {}           # what -> [count, over spec, worst s]
        self.dead = False       # the daemon was killed (noticed)
        self.lost = [0, 0]      # bytes, segments (checked at the kill)
        self.post = Counter()   # what was done after the kill
        self.alts = []          # {key: (old, new)} of requests the kill
                                # may or may not have completed
        self.files = {}         # name -> bytearray
        self.modes = {}
        self.live = {}          # name -> [mmap, fd or None, length]
        self.sized_outside = set()  # names last resized outside the mount
        self.seq = 0
        self.t0 = time.monotonic()
        self.hist = {}
        self.op = "setup"
        self.nops = 0

    # names and paths
    def new_name(self):
        self.seq += 1
        return "%s%d" % (self.prefix, self.seq)

    def mp(self, *n):
        return os.path.join(self.mnt, *n)

    def dp(self, *n):
        return os.path.join(self.shm, *n)

    # problems
    def detail(self, kind, what):
        if len(self.details) < MAX_REPORT:
            self.details.append("%s %s[%d] %s at %.2f s%s: %s" % (
                kind, self.role, self.idx, self.op,
                time.monotonic() - self.t0,
                " (daemon killed)" if self.ctl.killed else "", what))

    def mismatch(self, what):
        self.n_mismatch += 1
        self.detail("MISMATCH", what)

    def within_spec(self, e):
        """An error the spec allows (see ListWorker)."""
        return False

    def unexpected(self, what):
        self.n_unexpected += 1
        self.detail("ERROR", what)

    def eq(self, got, want, what):
        if got != want:
            g, w = repr(got), repr(want)
            raise Mismatch("%s: got %s, want %s" % (
                what, g[:120] + ("..." if len(g) > 120 else ""),
                w[:120] + ("..." if len(w) > 120 else "")))

    def expect(self, allowed, fn, *a):
        """fn(*a) must fail with one of allowed (errno values)."""
        try:
            fn(*a)
        except OSError as e:
            if e.errno in allowed:
                self.expected[H.ename(e.errno)] += 1
                return e.errno
            raise
        raise Mismatch("%s%r succeeded, want %s" % (
            getattr(fn, "__name__", "call"), a[:2],
            "/".join(H.ename(x) for x in allowed)))

    def daemon(self, changes, fn, *a):
        """A request the daemon serves.  If the kill takes its reply, its
        effect is unknown: changes() gives {key: (old, new)} for the model
        check to accept either."""
        try:
            return fn(*a)
        except OSError as e:
            if e.errno in CONN and self.kill_mode:
                if changes is not None:
                    self.alts.append(changes())
                raise DaemonGone()
            raise

    def latency(self, what, t):
        e = self.lat.setdefault(what, [0, 0, 0.0])
        e[0] += 1
        if t > META_SPEC:
            e[1] += 1
        e[2] = max(e[2], t)

    def seen(self, what, cond, wait=META_WAIT):
        """Poll cond() until true: a change made directly, seen through the
        mount.  The time it took is recorded under what."""
        t0 = time.monotonic()
        last = None
        while True:
            try:
                ok = cond()
            except OSError as e:
                if e.errno in CONN:
                    raise
                ok, last = False, e
            t = time.monotonic() - t0
            if ok:
                self.latency(what, t)
                return
            if t > wait:
                if self.kill_mode and self.ctl.killed:
                    # a dead daemon invalidates nothing: the kernel keeps
                    # answering from its cache
                    raise DaemonGone()
                raise Mismatch("%s: not seen through the mount within "
                               "%.1f s%s" % (what, wait, " (last: %s)" % last
                                             if last else ""))
            time.sleep(0.002)

    def close_fd(self, fd):
        try:
            os.close(fd)
        except OSError as e:
            if not (e.errno in CONN and self.kill_mode):
                raise

    # the model against the shm directory
    def real_state(self, key):
        kind, name = key[0], key[1]
        if kind == "F":
            try:
                return read_path(self.dp(name))
            except FileNotFoundError:
                return None
        return self.real_elem(key)

    def set_state(self, key, v):
        if key[0] == "F":
            if v is None:
                self.files.pop(key[1], None)
                self.modes.pop(key[1], None)
            else:
                self.files[key[1]] = bytearray(v)
                self.modes.setdefault(key[1], 0o600)
        else:
            self.set_elem(key, v)

    def state_cost(self, key, want, real):
        if key[0] == "F":
            if (want is None) != (real is None):
                return 1 + len(want or real or b"")
            return diff_bytes(want, real)
        return 0 if H.same_value(want, real) else 1

    def resolve_alts(self):
        """Requests the kill interrupted: whichever of old and new the shm
        directory holds is the model from now on."""
        for changes in self.alts:
            cost = [0, 0]
            for key, pair in changes.items():
                real = self.real_state(key)
                for k in (0, 1):
                    cost[k] += self.state_cost(key, pair[k], real)
            pick = 0 if cost[0] <= cost[1] else 1
            for key, pair in changes.items():
                self.set_state(key, pair[pick])
            self.post["interrupted_requests"] += 1
        self.alts = []

    def check_files(self, kind="LOST"):
        """Every segment of the model against the shm directory.  Returns
        (bytes lost, segments with a loss)."""
        self.resolve_alts()
        lost = segs = 0
        real = {n for n in os.listdir(self.shm) if n.startswith(self.prefix)}
        want = set(self.files) | set(self.list_names())
        for n in sorted(want - real):
            lost += len(self.files.get(n, b""))
            segs += 1
            self.detail(kind, "%s is gone from the shm directory" % n)
        for n in sorted(real - want):
            segs += 1
            self.detail(kind, "%s is in the shm directory, model: "
                        "removed" % n)
        for n in sorted(real & set(self.files)):
            try:
                got = read_path(self.dp(n))
            except FileNotFoundError:
                got = None
            want_b = self.files[n]
            if got != want_b:
                d = diff_bytes(want_b, got)
                lost += max(d, 1)
                segs += 1
                self.detail(kind, "%s: %d bytes differ (%s)" % (
                    n, d, first_diff(want_b, got or b"")))
        el, es = self.check_elems_direct(kind)
        return lost + el, segs + es

    def list_names(self):
        return []

    def check_elems_direct(self, kind):
        return 0, 0

    # the run
    def table(self):
        raise NotImplementedError

    def post_table(self):
        return []

    def on_kill(self):
        if self.dead:
            return
        self.dead = True
        self.op = "check at the kill"
        if self.cfg.get("inject") == "lose" and self.idx == 0:
            # self-test: a write the kill "lost" (the last 100 bytes)
            name = sorted(n for n, b in self.files.items() if len(b) > 100)
            if name:
                os.truncate(self.dp(name[0]), len(self.files[name[0]]) - 100)
                print("stress: STRESS_INJECT=lose: cut 100 bytes off %s" %
                      name[0], flush=True)
        self.lost = list(self.check_files())
        self.post["live_mappings_at_kill"] = len(self.live)
        self.post["open_fds_at_kill"] = sum(
            1 for v in self.live.values() if v[1] is not None)

    def kill_window(self):
        """A mount request failing (or a cached view not refreshed) from
        the moment the parent starts killing the daemon is the kill's
        doing, not an error: the worker stops its mount work (whatever it
        wrote is checked in the shm directory by on_kill())."""
        return self.kill_mode and not self.dead and self.ctl.killing

    def diagnose(self, e):
        return ""

    def step(self, fn):
        self.op = fn.__name__[3:]
        try:
            fn()
            if os.environ.get("STRESS_HIST"):
                for n, b in self.files.items():
                    h = self.hist.setdefault(n, [])
                    if not h or h[-1][1] != len(b) or self.op in (
                            "rename", "mmap", "truncate"):
                        h.append((self.op, len(b)))
                        del h[:-8]
        except DaemonGone:
            self.on_kill()
        except Mismatch as e:
            if self.kill_window():
                self.post["mismatches_in_the_kill_window"] += 1
                self.on_kill()
                return
            self.mismatch(str(e))
        except OSError as e:
            if e.errno in CONN and self.kill_mode:
                self.on_kill()
                return
            if self.kill_window():
                self.post["errors_in_the_kill_window_" + H.ename(e.errno)] += 1
                self.on_kill()
                return
            if self.within_spec(e):
                return
            self.unexpected("%s: %s (%s)%s" % (
                H.ename(e.errno) if e.errno else type(e).__name__,
                e.strerror, e.filename, self.diagnose(e)))
        except Exception as e:
            tb = traceback.format_exc().rstrip().splitlines()
            self.unexpected("%s: %s | %s" % (type(e).__name__, e,
                                             " / ".join(tb[-4:-1])))
        else:
            self.ops[self.op] += 1
        self.nops += 1
        self.ctl.bump(self.idx, self.nops)

    def run(self):
        self.t0 = time.monotonic()
        self.setup()
        skip = os.environ.get("STRESS_SKIP", "").split(",")
        table = [(w, f) for w, f in self.table() if f.__name__[3:] not in skip]
        weights = [w for w, _ in table]
        while not self.ctl.stop:
            if self.kill_mode and self.ctl.killed and not self.dead:
                self.on_kill()
            if self.dead:
                post = self.post_table()
                if post:
                    fn = self.rnd.choices([f for _, f in post],
                                          [w for w, _ in post])[0]
                    self.step(fn)
                else:
                    time.sleep(0.01)
                continue
            fn = self.rnd.choices([f for _, f in table], weights)[0]
            self.step(fn)
        self.finish()

    def setup(self):
        pass

    def finish(self):
        """Close everything; check the model once more in the shm directory
        and, with a live daemon, through the mount."""
        self.op = "final check"
        for name in list(self.live):
            self.drop_live(name)
        try:
            lost, segs = self.check_files("MISMATCH")
            if lost or segs:
                self.n_mismatch += segs or 1
        except Exception as e:
            self.unexpected("final check: %s: %s" % (type(e).__name__, e))
        self.close_all()

    def close_all(self):
        pass

    def drop_live(self, name):
        v = self.live.pop(name, None)
        if v is None:
            return
        v[0].close()
        if v[1] is not None:
            self.close_fd(v[1])

    def result(self):
        return {
            "role": self.role, "idx": self.idx, "ops": dict(self.ops),
            "expected": dict(self.expected), "unexpected": self.n_unexpected,
            "mismatches": self.n_mismatch, "details": self.details,
            "lat": self.lat, "lost": self.lost, "post": dict(self.post),
            "dead": self.dead, "state": self.state(),
        }

    def state(self):
        return {"files": {n: [len(b), hashlib.sha256(b).hexdigest(),
                              self.modes.get(n, 0o600)]
                          for n, b in self.files.items()},
                "lists": {}}


class SegWorker(Worker):
    """Segments: ops through own_path (the mount or the shm directory),
    every change checked through the other path."""
    via_mount = True

    def own(self, n):
        return self.mp(n) if self.via_mount else self.dp(n)

    def peer(self, n):
        return self.dp(n) if self.via_mount else self.mp(n)

    def call(self, changes, fn, *a):
        if self.via_mount:
            return self.daemon(changes, fn, *a)
        return fn(*a)

    def peer_ok(self):
        """A direct worker checks through the mount while it lives."""
        return self.via_mount or not (self.dead or self.ctl.killed)

    def table(self):
        return [(8, self.op_create), (20, self.op_pwrite), (15, self.op_mmap),
                (15, self.op_verify), (8, self.op_truncate),
                (6, self.op_rename), (5, self.op_unlink), (2, self.op_chmod),
                (2, self.op_scan), (3, self.op_errors)]

    def post_table(self):
        if self.via_mount:
            # the daemon is gone: what this process holds keeps working
            return [(3, self.op_postkill_map), (1, self.op_postkill_fd)]
        return self.table()

    def pick(self, nonempty=False):
        names = [n for n in self.files if not nonempty or self.files[n]]
        return self.rnd.choice(sorted(names)) if names else None

    def data(self, n):
        return self.rnd.randbytes(n)

    # peer checks
    def peer_meta(self, name, what):
        """The peer path shows name as the model says (absent if not in
        it): size and mode; a mount worker's changes at once, a direct
        worker's through the mount within META_WAIT."""
        if not self.peer_ok():
            return

        def ok():
            try:
                st = os.stat(self.peer(name))
            except FileNotFoundError:
                return name not in self.files
            if name not in self.files:
                return False
            # the mount shows each segment's own inode number: the same
            # file on both paths, not a stale entry of the same size
            real = os.stat(self.own(name))
            return (stat.S_ISREG(st.st_mode) and st.st_ino == real.st_ino and
                    st.st_size == len(self.files[name]) and
                    stat.S_IMODE(st.st_mode) == self.modes[name])
        if self.via_mount:
            if not ok():
                try:
                    st = os.stat(self.peer(name))
                    got = "size %d mode %o" % (st.st_size,
                                               stat.S_IMODE(st.st_mode))
                except FileNotFoundError:
                    got = "absent"
                want = ("size %d mode %o" % (len(self.files[name]),
                                             self.modes[name])
                        if name in self.files else "absent")
                raise Mismatch("%s in the shm directory after %s: %s, "
                               "want %s" % (name, what, got, want))
        else:
            self.seen(what, ok)

    def peer_content(self, name, what):
        """A direct worker's renamed or replaced name: the mount reads the
        new content (a stale entry would read the old file)."""
        if not self.peer_ok() or self.via_mount:
            return
        want = bytes(self.files[name])
        self.seen(what, lambda: read_path(self.mp(name)) == want)

    def peer_range(self, name, off, data):
        """Data written through one path is read through the other at
        once."""
        if not self.peer_ok():
            return
        fd = os.open(self.peer(name), os.O_RDONLY)
        try:
            got = os.pread(fd, len(data), off)
            if got != data:
                raise Mismatch("%s [%d, +%d) read through the %s right "
                               "after the write: %s (%s)" % (
                                   name, off, len(data), "shm directory"
                                   if self.via_mount else "mount",
                                   first_diff(data, got),
                                   self.where(name, fd)))
        finally:
            self.close_fd(fd)

    def where(self, name, fd=None):
        """Which file each path shows under name (for a mismatch)."""
        out = []
        for what, f in (("mount", lambda: os.stat(self.mp(name))),
                        ("fd", lambda: os.fstat(fd)),
                        ("shm dir", lambda: os.stat(self.dp(name)))):
            if what == "fd" and fd is None:
                continue
            try:
                st = f()
                out.append("%s: ino %d size %d" % (what, st.st_ino,
                                                   st.st_size))
            except OSError as e:
                out.append("%s: %s" % (what, H.ename(e.errno)))
        try:
            time.sleep(1)
            st = os.stat(self.mp(name))
            got = read_path(self.mp(name))
            out.append("1 s later the mount: ino %d size %d, reads %d "
                       "bytes%s" % (st.st_ino, st.st_size, len(got),
                                    " (as the model)" if got ==
                                    self.files.get(name) else ""))
        except OSError as e:
            out.append("1 s later the mount: %s" % H.ename(e.errno))
        out.append("history %s" % self.hist.get(name))
        return "; ".join(out)

    # ops
    def op_create(self):
        if len(self.files) >= MAX_FILES:
            return self.op_unlink()
        name = self.new_name()
        fd = self.call(lambda: {("F", name): (None, b"")}, os.open,
                       self.own(name), os.O_CREAT | os.O_EXCL | os.O_RDWR,
                       0o600)
        self.files[name] = bytearray()
        self.modes[name] = 0o600
        try:
            n = self.rnd.choice((0, 0, 100, 4096, 70000))
            if n:
                self.write(fd, name, 0, self.data(n))
        finally:
            self.close_fd(fd)
        self.peer_meta(name, "create")

    def write(self, fd, name, off, data):
        buf = self.files[name]

        def changes():
            new = bytearray(buf)
            if off > len(new):
                new.extend(bytes(off - len(new)))
            new[off:off + len(data)] = data
            return {("F", name): (bytes(buf), bytes(new))}
        n = self.call(changes, os.pwrite, fd, data, off)
        if n != len(data):
            raise Mismatch("short write %d of %d" % (n, len(data)))
        if off > len(buf):
            buf.extend(bytes(off - len(buf)))
        buf[off:off + len(data)] = data

    def open_own(self, name, flags=os.O_RDWR):
        return self.call(None, os.open, self.own(name), flags)

    def op_pwrite(self):
        name = self.pick()
        if name is None:
            return self.op_create()
        size = len(self.files[name])
        n = self.rnd.randrange(1, 16384)
        off = self.rnd.randrange(0, max(1, min(size + 8192, MAX_SIZE - n)))
        if off + n > size:
            n = not_a_list(off + n) - off
        data = self.data(n)
        live = self.live.get(name)
        if live is not None and live[1] is not None and self.rnd.random() < .5:
            self.write(live[1], name, off, data)
            if off + n > size:
                self.other_fd_size(name, live, "size after pwrite")
        else:
            self.sized_outside.discard(name)
            fd = self.open_own(name)
            try:
                self.write(fd, name, off, data)
                if self.rnd.random() < 0.05:
                    self.call(None, os.fsync, fd)
            finally:
                self.close_fd(fd)
        self.peer_range(name, off, data)
        if off + n > size:
            self.peer_meta(name, "size after pwrite")

    def map_new(self, name, keep_fd):
        size = len(self.files[name])
        path = self.own(name) if self.rnd.random() < 0.7 else self.peer(name)
        if path.startswith(self.mnt + "/") and not self.peer_ok():
            path = self.own(name)
        fd = self.call(None, os.open, path, os.O_RDWR)
        try:
            st = os.fstat(fd)
            t_fstat = time.monotonic()
            if (st.st_size != size and path.startswith(self.mnt + "/") and
                    (not self.via_mount or name in self.sized_outside)):
                # The last size change was made outside the mount (by a
                # direct worker, or through a direct fd): the mount may
                # take the spec's 100 ms to show it (counted, polled).
                # Seen in long runs: right after such a change, a mount fd
                # briefly (< 10 ms) showed the size before it, although
                # the mount had already shown the new one.
                self.seen("size at an open through the mount",
                          lambda: os.fstat(fd).st_size == size)
                st = os.fstat(fd)
            if st.st_size != size:
                try:
                    later = ["stat(path) %d" % os.stat(path).st_size]
                except OSError as e:
                    later = ["stat(path) %s" % H.ename(e.errno)]
                for d in (0, 0.01, 0.1, 1.0):
                    time.sleep(d)
                    later.append(os.fstat(fd).st_size)
                raise Mismatch("%s (ino %d): fstat of an fd just opened "
                               "through the %s at monotonic %.6f: size %d, "
                               "want %d (then %s; history %s)" % (
                                   name, st.st_ino, "mount" if
                                   path.startswith(self.mnt + "/") else
                                   "shm directory", t_fstat, st.st_size, size,
                                   later, self.hist.get(name)))
            mm = mmap.mmap(fd, size)
        except BaseException:
            self.close_fd(fd)
            raise
        if not keep_fd:
            self.close_fd(fd)
            fd = None
        return [mm, fd, size, path.startswith(self.mnt + "/")]

    def other_fd_size(self, name, live, what):
        """A mount worker changed a size through an fd it holds on the shm
        directory: for the mount that is a direct change (shown within the
        spec's 100 ms, polled)."""
        if self.via_mount and live[3]:
            self.sized_outside.discard(name)
        if self.via_mount and not live[3]:
            self.sized_outside.add(name)
            want = len(self.files[name])
            self.seen(what + " (through a direct fd)",
                      lambda: os.stat(self.mp(name)).st_size == want)

    def op_mmap(self):
        name = self.pick(nonempty=True)
        if name is None:
            return self.op_pwrite()
        live = self.live.get(name)
        if live is None or self.rnd.random() < 0.2:
            if live is not None:
                self.drop_live(name)
            live = self.map_new(name, self.rnd.random() < 0.5)
            keep = len(self.live) < MAX_LIVE and self.rnd.random() < 0.6
        else:
            keep = True
        try:
            self.map_write(name, live)
        finally:
            if keep:
                self.live[name] = live
            else:
                live[0].close()
                if live[1] is not None:
                    self.close_fd(live[1])

    def map_write(self, name, live):
        mm, mlen = live[0], live[2]
        lim = min(mlen, len(self.files[name]))
        if lim == 0:
            return
        off = self.rnd.randrange(lim)
        n = self.rnd.randrange(1, min(lim - off, 32768) + 1)
        data = self.data(n)
        mm[off:off + n] = data
        self.files[name][off:off + n] = data
        got = mm[off:off + n]
        if got != data:
            raise Mismatch("%s: the mapping reads back %s" % (
                name, first_diff(data, got)))
        self.peer_range(name, off, data)

    def op_verify(self, name=None):
        name = name or self.pick()
        if name is None:
            return self.op_create()
        want = bytes(self.files[name])
        paths = [("own", self.own(name))]
        if self.peer_ok():
            paths.append(("peer", self.peer(name)))
        for which, path in paths:
            got = read_path(path)
            if got != want:
                raise Mismatch("%s read through %s: %s (%s)" % (
                    name, "the mount" if path.startswith(self.mnt + "/")
                    else "the shm directory", first_diff(want, got),
                    self.where(name)))
        live = self.live.get(name)
        if live is not None:
            lim = min(live[2], len(want))
            got = live[0][:lim]
            if got != want[:lim]:
                raise Mismatch("%s through the mapping held: %s" % (
                    name, first_diff(want[:lim], got)))
        elif want:
            m = self.map_new(name, False)
            try:
                got = m[0][:]
            finally:
                m[0].close()
            if got != want:
                raise Mismatch("%s through a new mapping: %s" % (
                    name, first_diff(want, got)))
        st = os.stat(self.own(name))
        self.eq(st.st_size, len(want), "%s: size (own path)" % name)
        self.peer_meta(name, "stat")

    def op_truncate(self):
        name = self.pick()
        if name is None:
            return self.op_create()
        buf = self.files[name]
        r = self.rnd.random()
        size = (0 if r < 0.1 else self.rnd.randrange(0, len(buf) + 1)
                if r < 0.5 else self.rnd.randrange(0, MAX_SIZE))
        size = not_a_list(size)
        new = bytes(buf[:size]) + bytes(max(0, size - len(buf)))

        def changes():
            return {("F", name): (bytes(buf), new)}
        live = self.live.get(name)
        how = self.rnd.random()
        if not (live is not None and live[1] is not None and
                0.3 <= how < 0.6) or size == 0 and how < 0.3:
            self.sized_outside.discard(name)
        if size == 0 and how < 0.3:
            fd = self.call(changes, os.open, self.own(name),
                           os.O_RDWR | os.O_TRUNC)
            self.close_fd(fd)
        elif live is not None and live[1] is not None and how < 0.6:
            self.call(changes, os.ftruncate, live[1], size)
            self.files[name] = bytearray(new)
            self.other_fd_size(name, live, "truncate")
        else:
            self.call(changes, os.truncate, self.own(name), size)
        self.files[name] = bytearray(new)
        self.peer_meta(name, "truncate")

    def op_rename(self):
        a = self.pick()
        if a is None:
            return self.op_create()
        others = sorted(n for n in self.files if n != a)
        r = self.rnd.random()
        if others and r < 0.4:
            b = self.rnd.choice(others)
        else:
            b = self.new_name()
        how = self.rnd.random()
        ca = bytes(self.files[a])
        cb = bytes(self.files[b]) if b in self.files else None
        if b in self.files and how < 0.25:
            # RENAME_NOREPLACE onto an existing name: EEXIST, nothing moves
            self.expect((errno.EEXIST,), self.call, None, H.renameat2,
                        self.own(a), self.own(b), H.RENAME_NOREPLACE)
            self.peer_meta(a, "refused rename")
            return
        if b in self.files and how < 0.5:
            self.call(lambda: {("F", a): (ca, cb), ("F", b): (cb, ca)},
                      H.renameat2, self.own(a), self.own(b), H.RENAME_EXCHANGE)
            self.files[a], self.files[b] = self.files[b], self.files[a]
            self.modes[a], self.modes[b] = self.modes[b], self.modes[a]
            la, lb = self.live.pop(a, None), self.live.pop(b, None)
            if la is not None:
                self.live[b] = la
            if lb is not None:
                self.live[a] = lb
            self.peer_meta(a, "exchange")
            self.peer_meta(b, "exchange")
            self.peer_content(a, "exchange (content)")
            self.peer_content(b, "exchange (content)")
            return
        changes = lambda: {("F", a): (ca, None), ("F", b): (cb, ca)}  # noqa
        if b not in self.files and how < 0.5:
            self.call(changes, H.renameat2, self.own(a), self.own(b),
                      H.RENAME_NOREPLACE)
        else:
            self.call(changes, os.rename, self.own(a), self.own(b))
        self.files[b] = self.files.pop(a)
        self.modes[b] = self.modes.pop(a)
        if b in self.live:
            self.drop_live(b)
        if a in self.live:
            self.live[b] = self.live.pop(a)
        if not self.via_mount and self.peer_ok() and self.rnd.random() < .3:
            # someone opens the old name through the mount at once: the
            # kernel may still hold its entry (the spec's 100 ms), so the
            # open may fail (ENOENT) or open the renamed file; either way
            # the mount must go on serving both names right
            try:
                self.close_fd(os.open(self.mp(a), os.O_RDONLY))
                self.post["stale_name_opened"] += 1
            except FileNotFoundError:
                self.expected["ENOENT (old name just renamed)"] += 1
            if self.files[b]:
                self.peer_content(b, "rename (content after an open of "
                                  "the old name)")
        self.peer_meta(a, "rename (old name)")
        self.peer_meta(b, "rename (new name)")
        if cb is not None:
            self.peer_content(b, "rename over (content)")

    def op_unlink(self):
        name = self.pick()
        if name is None:
            return self.op_create()
        content = bytes(self.files[name])
        self.call(lambda: {("F", name): (content, None)}, os.unlink,
                  self.own(name))
        del self.files[name]
        del self.modes[name]
        self.drop_live(name)
        self.peer_meta(name, "unlink")

    def op_chmod(self):
        name = self.pick()
        if name is None:
            return self.op_create()
        mode = self.rnd.choice((0o600, 0o640, 0o644, 0o660))
        self.call(None, os.chmod, self.own(name), mode)
        self.modes[name] = mode
        self.peer_meta(name, "chmod")

    def op_scan(self):
        """ls -l of the whole mount (other workers' names may vanish on the
        way: ENOENT is fine for them), own names exactly as the model."""
        if not self.peer_ok():
            return
        mine = {}
        with os.scandir(self.mnt) as it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if e.name.startswith(self.prefix):
                    mine[e.name] = st.st_size
        want = {n: len(b) for n, b in self.files.items()}
        if self.via_mount:
            self.eq(mine, want, "own names and sizes in ls -l of the mount")
            real = {n: os.stat(self.dp(n)).st_size for n in os.listdir(
                self.shm) if n.startswith(self.prefix)}
            self.eq(real, want, "own names and sizes in the shm directory")
        elif mine != want:
            def ok():
                got = {n: os.stat(self.mp(n)).st_size
                       for n in os.listdir(self.mnt)
                       if n.startswith(self.prefix)}
                return got == want
            self.seen("ls", ok)

    def op_errors(self):
        r = self.rnd.randrange(4)
        if r == 0:
            self.expect((errno.ENOENT,), self.call, None, os.open,
                        self.own(self.prefix + "missing"), os.O_RDONLY)
        elif r == 1 and self.files:
            name = self.pick()
            self.expect((errno.EEXIST,), self.call, None, os.open,
                        self.own(name), os.O_CREAT | os.O_EXCL | os.O_RDWR,
                        0o600)
        elif r == 2 and self.peer_ok():
            self.expect((errno.EPERM,), os.mkdir, self.mp(self.prefix + "d"))
        elif self.peer_ok():
            self.expect((errno.ENOENT,), os.stat,
                        self.mp(self.prefix + "missing"))

    # after the kill (mount workers): what the process holds keeps working
    def op_postkill_map(self):
        names = [n for n in sorted(self.live) if self.files.get(n)]
        if not names:
            time.sleep(0.005)
            return
        name = self.rnd.choice(names)
        live = self.live[name]
        self.map_write(name, live)
        lim = min(live[2], len(self.files[name]))
        self.eq(live[0][:lim], bytes(self.files[name][:lim]),
                "%s through the held mapping after the kill" % name)
        self.post["mapping_writes_after_kill"] += 1

    def op_postkill_fd(self):
        """pwrite/pread on a mount fd opened before the kill (passthrough:
        the kernel serves them from the segment without the daemon)."""
        names = [n for n in sorted(self.live) if self.live[n][1] is not None
                 and self.files.get(n)]
        if not names:
            time.sleep(0.005)
            return
        name = self.rnd.choice(names)
        fd = self.live[name][1]
        size = len(self.files[name])
        off = self.rnd.randrange(size)
        data = self.data(self.rnd.randrange(1, min(4096, size - off) + 1))
        try:
            os.pwrite(fd, data, off)
        except OSError as e:
            if e.errno in CONN:
                self.post["fd_writes_after_kill_refused_" +
                          H.ename(e.errno)] += 1
                return
            raise
        self.files[name][off:off + len(data)] = data
        self.eq(os.pread(fd, len(data), off), data,
                "%s pread on the held mount fd after the kill" % name)
        self.peer_range(name, off, data)
        self.post["fd_writes_after_kill"] += 1

    def setup(self):
        # inject=corrupt: a byte changes behind the model's back
        self.corrupt_at = (time.monotonic() + 1.0
                           if self.cfg.get("inject") == "corrupt" and
                           not self.via_mount and self.idx ==
                           self.cfg["first_direct"] else None)

    def step(self, fn):
        if self.corrupt_at and time.monotonic() > self.corrupt_at:
            name = self.pick(nonempty=True)
            if name:
                fd = os.open(self.dp(name), os.O_RDWR)
                b = os.pread(fd, 1, 0)
                os.pwrite(fd, bytes([b[0] ^ 0x5a]), 0)
                os.close(fd)
                self.corrupt_at = None
                print("stress: STRESS_INJECT=corrupt: flipped byte 0 of %s "
                      "behind the model" % name, flush=True)
                fn = lambda: self.op_verify(name)  # noqa: E731
                fn.__name__ = "op_verify"
        Worker.step(self, fn)

    def close_all(self):
        for name in list(self.live):
            self.drop_live(name)

    def finish(self):
        Worker.finish(self)
        if not self.dead and not self.ctl.killed and not self.kill_mode:
            # through the mount too (a direct worker's last change may
            # still be on its way to the mount)
            self.op = "final check through the mount"
            try:
                for n, b in sorted(self.files.items()):
                    if not self.via_mount:
                        self.seen("final check", lambda: read_path(
                            self.mp(n)) == b, wait=META_WAIT)
                    got = read_path(self.mp(n))
                    if got != b:
                        self.mismatch("%s through the mount at the end: %s"
                                      % (n, first_diff(b, got)))
            except Mismatch as e:
                self.mismatch(str(e))
            except OSError as e:
                self.unexpected("final check through the mount: %s" % e)


class MountWorker(SegWorker):
    role = "mount"
    tag = "m"
    via_mount = True


class DirectWorker(SegWorker):
    role = "direct"
    tag = "d"
    via_mount = False


class ListWorker(Worker):
    """Elements of ShareableLists; self.lists: name -> {"sl": CPython's
    ShareableList over the file in the shm directory, "own": indices this
    worker owns, "private": made by this worker}; self.vals: (name, i) ->
    the value the element holds."""

    def __init__(self, idx, cfg, ctl, pair):
        Worker.__init__(self, idx, cfg, ctl)
        self.pair = pair
        self.lists = {}
        self.vals = {}

    def setup(self):
        name = "P%02d" % self.pair
        sl = H.py_list(self.dp(name))
        own = [i for i in range(len(PAIR_VALUES))
               if i % 2 == (0 if self.role == "list-mount" else 1)]
        self.lists[name] = {"sl": sl, "own": own, "private": False}
        for i in own:
            self.vals[(name, i)] = norm(PAIR_VALUES[i])

    def mount_ok(self):
        """Whether this worker still uses the mount (ListPyWorker stops
        after the kill)."""
        return True

    def cat_check(self, name, i, what):
        if not self.mount_ok():
            return
        want = H.elem_text(self.vals[(name, i)])
        got = read_path(self.mp(name, str(i)))
        if got != want:
            raise Mismatch("cat %s/%d after %s: %r, want %r" % (
                name, i, what, got, want))

    def op_xattr(self):
        if not self.mount_ok():
            return
        name, L, i = self.pick_elem()
        if name is None:
            return
        got = os.getxattr(self.mp(name, str(i)), "user.shmfs.type")
        self.eq(got, TYPE_NAME[type(self.vals[(name, i)])].encode(),
                "user.shmfs.type of %s/%d" % (name, i))

    def list_names(self):
        return [n for n, L in self.lists.items() if L["private"]]

    def enotdir_folder(self, e):
        """The list folder (first name under the mount) in e.filename
        when e is ENOTDIR on a path on the mount, else None."""
        if e.errno != errno.ENOTDIR or not e.filename or not str(
                e.filename).startswith(self.mnt + "/"):
            return None
        return str(e.filename)[len(self.mnt) + 1:].split("/")[0]

    def within_spec(self, e):
        """ENOTDIR on a list folder CPython made less than the spec's
        100 ms ago: a listing that read the segment between CPython's
        ftruncate and its layout can be answered after the folder was
        shown, and the daemon's kind checks put it right again.  Counted
        (under "list folder flipped back") and polled, not an error."""
        name = self.enotdir_folder(e)
        if name is None:
            return False
        L = self.lists.get(name)
        if not L or "t" not in L or time.monotonic() - L["t"] > META_SPEC:
            return False
        self.seen("list folder flipped back",
                  lambda: os.path.isdir(self.mp(name)), LIST_WAIT)
        return True

    def diagnose(self, e):
        """A list folder the mount does not show as one: what it shows,
        and for how long."""
        name = self.enotdir_folder(e)
        if name is None:
            return ""
        L = self.lists.get(name)
        try:
            st = os.stat(self.mp(name))
            shown = "mode %o" % st.st_mode
        except OSError as e2:
            shown = H.ename(e2.errno)
        t0 = time.monotonic()
        ok, _ = H.poll_until(lambda: os.path.isdir(self.mp(name)), 3)
        return " [the mount shows %s as %s, %.0f ms after it was made; a " \
            "folder again %s]" % (
                name, shown, (t0 - L["t"]) * 1e3 if L and "t" in L else -1,
                "after %.0f ms" % ((time.monotonic() - t0) * 1e3) if ok
                else "not within 3 s")

    # element state (for the kill's uncertain requests)
    def real_elem(self, key):
        return norm(self.lists[key[1]]["sl"][key[2]])

    def set_elem(self, key, v):
        self.vals[(key[1], key[2])] = v

    def check_elems_direct(self, kind):
        lost = segs = 0
        for name, L in sorted(self.lists.items()):
            bad = 0
            for i in L["own"]:
                got = norm(L["sl"][i])
                want = self.vals[(name, i)]
                if not H.same_value(got, want):
                    bad += 1
                    lost += len(H.elem_text(want))
                    self.detail(kind, "%s[%d] holds %r, want %r" % (
                        name, i, got, want))
            segs += bad > 0
        return lost, segs

    def pick_elem(self):
        name = self.rnd.choice(sorted(self.lists))
        L = self.lists[name]
        if not L["own"]:
            return None, None, None
        return name, L, self.rnd.choice(L["own"])

    def gen_value(self, typ, slot):
        r = self.rnd
        if typ is bool:
            return r.random() < 0.5
        if typ is int:
            return r.choice((r.randrange(-2 ** 63, 2 ** 63),
                             r.randrange(-1000, 1000), 2 ** 63 - 1, -2 ** 63,
                             0))
        if typ is float:
            return r.choice((r.random() * 10 ** r.randrange(-20, 20),
                             -r.random(), float("inf"), float("-inf"),
                             float("nan"), -0.0, 5e-324,
                             1.7976931348623157e308, r.uniform(-1e6, 1e6)))
        if typ is type(None):
            return None
        if typ is bytes:
            return r.randbytes(r.randrange(0, slot + 1))
        # str: UTF-8 of at most slot bytes, no NUL
        out, used = [], 0
        for _ in range(r.randrange(0, slot + 1)):
            c = r.choice("abcdefghijklmnopqrstuvwxyz0123456789 \t\n-"
                         if r.random() < 0.9 else "\u00e9\u20ac\u65e5")
            n = len(c.encode())
            if used + n > slot:
                break
            out.append(c)
            used += n
        return "".join(out)

    def new_list_values(self):
        vals = []
        for _ in range(self.rnd.randrange(1, 9)):
            t = self.rnd.choice((int, float, bool, type(None), str, bytes))
            if t is str:
                vals.append("".join(self.rnd.choice("abcxyz")
                                    for _ in range(self.rnd.randrange(20))))
            elif t is bytes:
                vals.append(self.rnd.randbytes(self.rnd.randrange(20)))
            else:
                vals.append(self.gen_value(t, 8))
        return vals

    def op_list_new(self):
        """A list made by CPython in the shm directory shows as a folder."""
        mine = self.list_names()
        if len(mine) >= MAX_PRIVATE:
            return self.op_list_del()
        name = self.new_name()
        vals = self.new_list_values()
        sl = H.py_list(self.dp(name), vals)
        self.lists[name] = {"sl": sl, "own": list(range(len(vals))),
                            "private": True, "t": time.monotonic()}
        for i, v in enumerate(vals):
            self.vals[(name, i)] = norm(v)
        if not self.dead and not self.ctl.killed:
            self.seen("list shown", lambda: os.path.isdir(self.mp(name)),
                      LIST_WAIT)
            want = sorted([".raw"] + [str(i) for i in range(len(vals))])
            self.eq(sorted(os.listdir(self.mp(name))), want,
                    "entries of the new list folder %s" % name)

    def forget_list(self, name):
        L = self.lists.pop(name)
        L["sl"].shm.close()
        for i in L["own"]:
            self.vals.pop((name, i), None)

    def close_all(self):
        for name in list(self.lists):
            self.forget_list(name)

    def state(self):
        lists = {}
        for name, L in self.lists.items():
            lists[name] = {"len": len(L["sl"]), "elems": {
                str(i): H.elem_text(self.vals[(name, i)]).hex()
                for i in L["own"]}}
        return {"files": {}, "lists": lists}

    def finish(self):
        # the state is taken before the lists are closed
        self.op = "final check"
        try:
            lost, segs = self.check_files("MISMATCH")
            if lost or segs:
                self.n_mismatch += segs or 1
            if not self.kill_mode:
                self.op = "final check through the mount"
                for (name, i), v in sorted(self.vals.items(),
                                           key=lambda kv: kv[0]):
                    got = read_path(self.mp(name, str(i)))
                    if got != H.elem_text(v):
                        self.mismatch("cat %s/%d at the end: %r, want %r" % (
                            name, i, got, H.elem_text(v)))
        except Exception as e:
            self.unexpected("final check: %s: %s" % (type(e).__name__, e))
        self._final_state = self.state()
        self.close_all()

    def result(self):
        r = Worker.result(self)
        r["state"] = self._final_state
        return r


class ListMountWorker(ListWorker):
    role = "list-mount"
    tag = "lm"

    def table(self):
        return [(30, self.op_elem_write), (6, self.op_elem_bad),
                (15, self.op_elem_read), (5, self.op_elem_peek),
                (3, self.op_xattr), (2, self.op_list_new),
                (2, self.op_readdir), (1, self.op_raw)]

    def post_table(self):
        return [(1, self.op_postkill_set)]

    def elem_text_for(self, v):
        """What `echo` writes for v (the element's type is v's)."""
        r = self.rnd.random()
        if isinstance(v, bytes):
            # a write of nothing stores nothing (the element keeps its
            # value until a write comes, README)
            return v or b"\0"
        if isinstance(v, bool) or v is None:
            return ("%s\n" % v).encode()
        if isinstance(v, int):
            return (("%+d" if r < 0.1 else "%d") % v).encode() + (
                b"\n" if r < 0.8 else b"")
        if isinstance(v, float):
            return (repr(v) + "\n").encode()
        t = v.encode()
        return t + b"\n" if (r < 0.8 or t.endswith(b"\n") or not t) else t

    def write_elem(self, name, i, text, changes):
        fd = self.daemon(None, os.open, self.mp(name, str(i)),
                         os.O_WRONLY | os.O_TRUNC)
        try:
            n = self.daemon(changes, os.write, fd, text)
            if n != len(text):
                raise Mismatch("short write %d of %d" % (n, len(text)))
        finally:
            self.close_fd(fd)

    def check_elem(self, name, L, i, what):
        self.cat_check(name, i, what)
        want = self.vals[(name, i)]
        py = norm(L["sl"][i])
        if not H.same_value(py, want):
            raise Mismatch("Python's %s[%d] after %s: %r, want %r" % (
                name, i, what, py, want))

    def op_elem_write(self):
        name, L, i = self.pick_elem()
        if name is None:
            return
        old = self.vals[(name, i)]
        typ = type(old)
        slot = slot_of(L["sl"], i)
        v = self.gen_value(typ, slot)
        text = self.elem_text_for(v)
        new = norm(v)
        self.write_elem(name, i, text,
                        lambda: {("E", name, i): (old, new)})
        self.vals[(name, i)] = new
        self.check_elem(name, L, i, "writing %r" % text)

    BAD = {int: [(b"12abc\n", (errno.EINVAL,)), (b"1.5\n", (errno.EINVAL,)),
                 (b"\n", (errno.EINVAL,)),
                 (b"99999999999999999999\n", (errno.ERANGE, errno.EINVAL))],
           float: [(b"abc\n", (errno.EINVAL,)), (b"1.5.5\n", (errno.EINVAL,)),
                   (b"1e400\n", (errno.ERANGE, errno.EINVAL))],
           bool: [(b"true\n", (errno.EINVAL,)), (b"1\n", (errno.EINVAL,))],
           type(None): [(b"null\n", (errno.EINVAL,)),
                        (b"0\n", (errno.EINVAL,))],
           str: [(b"\xff\xfe\n", (errno.EINVAL,))],
           bytes: []}

    def op_elem_bad(self):
        name, L, i = self.pick_elem()
        if name is None:
            return
        old = self.vals[(name, i)]
        slot = slot_of(L["sl"], i)
        cases = list(self.BAD[type(old)])
        if isinstance(old, (str, bytes)):
            cases.append((b"z" * (slot + 1) + (b"\n" if isinstance(old, str)
                                               else b""), (errno.EFBIG,)))
        text, allowed = self.rnd.choice(cases)
        fd = self.daemon(None, os.open, self.mp(name, str(i)),
                         os.O_WRONLY | os.O_TRUNC)
        try:
            self.expect(allowed, self.daemon, None, os.write, fd, text)
        finally:
            self.close_fd(fd)
        self.check_elem(name, L, i, "the refused write of %r" % text[:40])

    def op_elem_read(self):
        name, L, i = self.pick_elem()
        if name is not None:
            self.check_elem(name, L, i, "nothing")

    def op_elem_peek(self):
        """cat an element the other worker of the pair owns (it changes
        meanwhile; the read must succeed)."""
        name = "P%02d" % self.pair
        i = self.rnd.choice([j for j in range(len(PAIR_VALUES))
                             if j not in self.lists[name]["own"]])
        read_path(self.mp(name, str(i)))

    def op_readdir(self):
        name = self.rnd.choice(sorted(self.lists))
        n = len(self.lists[name]["sl"])
        self.eq(sorted(os.listdir(self.mp(name))),
                sorted([".raw"] + [str(i) for i in range(n)]),
                "entries of %s" % name)

    def op_raw(self):
        mine = self.list_names()
        if mine:
            name = self.rnd.choice(sorted(mine))
            got = read_path(self.mp(name, ".raw"))
            self.eq(got, read_path(self.dp(name)), "%s/.raw" % name)

    def op_list_del(self):
        """rmdir (or rm -r) of a folder destroys the list's segment."""
        mine = self.list_names()
        if not mine:
            return self.op_list_new()
        name = self.rnd.choice(sorted(mine))
        # the kill may take the reply: the list may be there or not
        changes = lambda: {("F", name): (read_path(self.dp(name)), None)}  # noqa
        if self.rnd.random() < 0.2:
            r = subprocess.run(["rm", "-r", self.mp(name)],
                               capture_output=True, timeout=60)
            if r.returncode != 0:
                if self.kill_mode and (self.ctl.killed or
                                       b"not connected" in r.stderr):
                    self.alts.append(changes())
                    raise DaemonGone()
                raise Mismatch("rm -r %s: %s" % (name, r.stderr.strip()))
        else:
            self.daemon(changes, os.rmdir, self.mp(name))
        self.forget_list(name)
        if os.path.exists(self.dp(name)):
            raise Mismatch("%s still in the shm directory after rmdir" % name)

    def set_state(self, key, v):
        if key[0] == "F":
            if v is None and key[1] in self.lists:
                self.forget_list(key[1])
        else:
            self.set_elem(key, v)

    def op_postkill_set(self):
        """After the kill: the elements are still set through CPython."""
        name, L, i = self.pick_elem()
        if name is None:
            return
        v = self.gen_value(type(self.vals[(name, i)]), slot_of(L["sl"], i))
        L["sl"][i] = v
        self.vals[(name, i)] = norm(v)
        self.post["python_sets_after_kill"] += 1


class ListPyWorker(ListWorker):
    role = "list-python"
    tag = "lp"

    def table(self):
        return [(30, self.op_py_set), (4, self.op_py_bad),
                (15, self.op_py_cat), (3, self.op_xattr),
                (2, self.op_list_new), (1, self.op_list_del)]

    def post_table(self):
        return self.table()

    def mount_ok(self):
        return not (self.dead or self.ctl.killed)

    def op_py_set(self):
        name, L, i = self.pick_elem()
        if name is None:
            return
        slot = slot_of(L["sl"], i)
        typ = self.rnd.choice((int, float, bool, type(None), str, bytes))
        v = self.gen_value(typ, min(slot, 64))
        L["sl"][i] = v
        self.vals[(name, i)] = norm(v)
        got = norm(L["sl"][i])
        if not H.same_value(got, norm(v)):
            raise Mismatch("Python reads back %s[%d] = %r, want %r" % (
                name, i, got, v))
        self.cat_check(name, i, "sl[%d] = %r" % (i, v))

    def op_py_bad(self):
        name, L, i = self.pick_elem()
        if name is None:
            return
        slot = slot_of(L["sl"], i)
        try:
            L["sl"][i] = "q" * (slot + 1)
        except ValueError:
            self.expected["ValueError (too long)"] += 1
        else:
            raise Mismatch("CPython stored %d bytes in a %d-byte slot" % (
                slot + 1, slot))
        self.cat_check(name, i, "the refused set")

    def op_py_cat(self):
        name, L, i = self.pick_elem()
        if name is not None:
            if not H.same_value(norm(L["sl"][i]), self.vals[(name, i)]):
                raise Mismatch("Python reads %s[%d] = %r, want %r" % (
                    name, i, L["sl"][i], self.vals[(name, i)]))
            self.cat_check(name, i, "nothing")

    def op_list_del(self):
        """unlink directly (sl.shm.unlink()): the folder goes from the
        mount."""
        mine = self.list_names()
        if not mine:
            return self.op_list_new()
        name = self.rnd.choice(sorted(mine))
        self.lists[name]["sl"].shm.unlink()
        self.forget_list(name)
        if self.mount_ok():
            self.seen("list removed", lambda: not os.path.exists(
                self.mp(name)))


# ---------------------------------------------------------------------------
# The parent


def roles_for(n):
    """How N workers split: 6/16 mount, 4/16 direct, 3/16 + 3/16 lists
    (list workers come in pairs)."""
    if n < 4:
        raise SystemExit("--procs must be at least 4")
    pairs = max(1, round(n * 3 / 16))
    rest = n - 2 * pairs
    direct = max(1, round(rest * 4 / 10))
    mount = rest - direct
    return mount, direct, pairs


def child_main(worker, out_path):
    """The worker process: never returns (no harness cleanup here)."""
    status = 0
    try:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        _libc.prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
        worker.run()
        res = worker.result()
        with open(out_path, "w") as f:
            json.dump(res, f)
    except BaseException:
        traceback.print_exc()
        status = 3
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def read_stats(mnt):
    try:
        return H.daemon_stats(mnt)
    except OSError:
        return None


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def fds_of(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def daemon_sample(m):
    """The daemon's RSS, fd count and user.shmfs.stats (None: unknown)."""
    s = {"rss": rss_kib(m.pid), "fds": fds_of(m.pid)}
    st = read_stats(m.mnt) if m.alive() else None
    for k in H.STATS_KEYS:
        s[k] = st.get(k) if st else None
    return s


class Sampler:
    """The daemon's RSS, fd count and user.shmfs.stats every SAMPLE_S."""

    def __init__(self, m):
        self.m = m
        self.lock = threading.Lock()
        self.reset()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def reset(self):
        self.start = self.sample()
        self.peak = dict(self.start)
        self.n = 0

    def sample(self):
        return daemon_sample(self.m)

    def loop(self):
        while not self.stopping.wait(SAMPLE_S):
            if not self.m.alive():
                continue
            s = self.sample()
            with self.lock:
                self.n += 1
                for k, v in s.items():
                    if v is not None and (self.peak.get(k) is None or
                                          v > self.peak[k]):
                        self.peak[k] = v


def fmt_mib(kib):
    return "?" if kib is None else "%.1f MiB" % (kib / 1024)


def daemon_flavour(pid, wrapper):
    if wrapper and "valgrind" in wrapper[0]:
        return "valgrind"
    try:
        with open("/proc/%d/maps" % pid) as f:
            if "libasan" in f.read():
                return "asan"
    except OSError:
        pass
    return "plain"


def test_stress():
    a = ARGS
    seconds = a.seconds
    slow = 5 if H.WRAPPER else 1
    shm = H.new_shm_dir()
    m = H.Mount(shm_dir=shm, start=False, extra_args=shlex.split(
        os.environ.get("STRESS_DAEMON_ARGS", "")))  # debugging: e.g. -d
    m.start(timeout=30 * slow)
    flavour = daemon_flavour(m.pid, H.WRAPPER)
    problems = []
    base = H.base_dir()

    # the starting point, before anything exists
    time.sleep(0.2)
    sampler = Sampler(m)
    start0 = dict(sampler.start)
    if start0["nodes"] is None:
        H.note("user.shmfs.stats is not answered by this daemon: the "
               "node/handle/backing-id checks are skipped")

    nm, nd, npairs = roles_for(a.procs)
    if os.environ.get("STRESS_ROLES"):     # debugging: "MOUNT,DIRECT,PAIRS"
        nm, nd, npairs = (int(x) for x in os.environ["STRESS_ROLES"].split(","))
    cfg = {"mnt": m.mnt, "shm": shm, "seed": a.seed, "kill": a.kill,
           "inject": os.environ.get("STRESS_INJECT"), "first_direct": nm}
    # the pair lists, as CPython makes them
    for k in range(npairs):
        H.py_list(os.path.join(shm, "P%02d" % k), PAIR_VALUES).shm.close()
    for k in range(npairs):
        ok, _ = H.poll_until(lambda: os.path.isdir(m.path("P%02d" % k)), 3)
        H.check(ok, "list P%02d not shown as a folder" % k)

    workers = []
    for i in range(nm):
        workers.append(MountWorker(len(workers), cfg, None))
    for i in range(nd):
        workers.append(DirectWorker(len(workers), cfg, None))
    for k in range(npairs):
        workers.append(ListMountWorker(len(workers), cfg, None, k))
    for k in range(npairs):
        workers.append(ListPyWorker(len(workers), cfg, None, k))
    ctl = Control(len(workers))

    pids = {}
    t_start = time.monotonic()
    try:
        for w in workers:
            w.ctl = ctl
            out = os.path.join(base, "worker%02d.json" % w.idx)
            pid = os.fork()
            if pid == 0:
                child_main(w, out)
            pids[pid] = (w, out)
        sampler.thread.start()

        kill_at = None
        if a.kill:
            kill_at = t_start + seconds * random.Random(a.seed).uniform(
                0.35, 0.65)
        killed_at = None
        at_kill = None
        deadline = t_start + seconds
        last = {w.idx: (0, time.monotonic()) for w in workers}
        stalled = set()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if kill_at and killed_at is None and time.monotonic() >= kill_at:
                with sampler.lock:
                    at_kill = (dict(sampler.start), dict(sampler.peak),
                               sampler.sample())
                m.expect_dead = True
                conn = H.fuse_connection(m.mnt)
                ctl.set_killing()
                sigkill_at = time.monotonic()
                m.kill(signal.SIGKILL)
                if m.wait_exit(10 * slow) is None:
                    # see repro_kill_deadlock.py
                    print("stress: the SIGKILLed daemon has not exited "
                          "after %d s: %s" % (10 * slow, "; ".join(
                              H.thread_stacks(m.pid))))
                    problems.append("the SIGKILLed daemon could not exit "
                                    "(a thread blocked in the kernel); its "
                                    "connection had to be aborted")
                    H.abort_fuse_connection(conn)
                    H.check(m.wait_exit(10) is not None, "the daemon did "
                            "not exit even after its connection was "
                            "aborted")
                killed_at = sigkill_at
                ctl.set_killed()
            now = time.monotonic()
            for w in workers:
                c = ctl.count(w.idx)
                if c != last[w.idx][0]:
                    last[w.idx] = (c, now)
                elif now - last[w.idx][1] > 10 * slow and w.idx not in stalled:
                    stalled.add(w.idx)
                    print("stress: %s[%d] made no progress for %d s" % (
                        w.role, w.idx, 10 * slow))
                    problems.append("%s[%d] stalled" % (w.role, w.idx))
            if not a.kill and not m.alive():
                problems.append("the daemon died during the run")
                break
        ctl.set_stop()
        t_load = time.monotonic() - t_start

        # collect the workers
        results, crashes = [], []
        grace = time.monotonic() + 60 * slow
        left = dict(pids)
        while left and time.monotonic() < grace:
            for pid in list(left):
                p, st = os.waitpid(pid, os.WNOHANG)
                if p == 0:
                    continue
                w, out = left.pop(pid)
                code = os.waitstatus_to_exitcode(st)
                if code != 0 or not os.path.exists(out):
                    crashes.append("%s[%d] exited %s" % (
                        w.role, w.idx, code if code >= 0 else
                        signal.Signals(-code).name))
                else:
                    with open(out) as f:
                        results.append(json.load(f))
            time.sleep(0.02)
        if left:
            # stuck in a request the daemon never answers: abort it
            print("stress: %d workers did not stop: %s" % (len(left), "; ".join(
                "%s[%d] %s" % (w.role, w.idx, " ".join(H.thread_stacks(pid)))
                for pid, (w, out) in left.items())))
            H.abort_fuse_connection(H.fuse_connection(m.mnt))
        for pid, (w, out) in left.items():
            crashes.append("%s[%d] hung (did not stop within %d s)" % (
                w.role, w.idx, 60 * slow))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        pids = {}
    finally:
        ctl.set_stop()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    sampler.stopping.set()
    sampler.thread.join()

    # --- the summary of the load
    ops, expected, post = Counter(), Counter(), Counter()
    lat = {}
    unexpected = mismatches = 0
    lost = [0, 0]
    details = []
    for r in sorted(results, key=lambda r: r["idx"]):
        ops.update(r["ops"])
        expected.update(r["expected"])
        post.update(r["post"])
        unexpected += r["unexpected"]
        mismatches += r["mismatches"]
        lost[0] += r["lost"][0]
        lost[1] += r["lost"][1]
        details += r["details"]
        for k, (n, over, worst) in r["lat"].items():
            e = lat.setdefault(k, [0, 0, 0.0])
            e[0] += n
            e[1] += over
            e[2] = max(e[2], worst)
    after = {k: v for k, v in ops.items() if k.startswith("postkill_")}
    main_ops = {k: v for k, v in ops.items() if k not in after}
    print("stress: %d procs (%d mount, %d direct, %d list-mount, %d "
          "list-python), %.1f s, %d ops (%s)%s, %d mismatches, %d unexpected "
          "errors, %d crashes" % (
              a.procs, nm, nd, npairs, npairs, t_load,
              sum(main_ops.values()),
              ", ".join("%s %d" % kv for kv in sorted(main_ops.items())),
              " + %d by mount-side workers after the kill (%s)" % (
                  sum(after.values()), ", ".join(
                      "%s %d" % (k[9:], v) for k, v in sorted(after.items())))
              if after else "", mismatches, unexpected, len(crashes)))
    print("stress: expected errors: %s" % (", ".join(
        "%s %d" % kv for kv in sorted(expected.items())) or "none"))
    if lat:
        print("stress: direct changes seen through the mount: %s" % "; ".join(
            "%s %d (%d over %.0f ms, worst %.0f ms)" % (
                k, n, over, META_SPEC * 1e3, worst * 1e3)
            for k, (n, over, worst) in sorted(lat.items())))
    for d in details[:40]:
        print("  " + d)
    for c in crashes:
        print("  CRASH " + c)
    if mismatches:
        problems.append("%d mismatches" % mismatches)
    if unexpected:
        problems.append("%d unexpected errors" % unexpected)
    if crashes:
        problems.append("%d crashed or hung workers" % len(crashes))
    if len(results) + len(crashes) != len(workers):
        problems.append("results of %d workers missing" % (
            len(workers) - len(results) - len(crashes)))

    def daemon_line(tag, s0, pk, s1):
        parts = ["RSS %s / %s / %s" % (fmt_mib(s0["rss"]), fmt_mib(pk["rss"]),
                                       fmt_mib(s1["rss"])),
                 "fds %s / %s / %s" % (s0["fds"], pk["fds"], s1["fds"])]
        for k in H.STATS_KEYS:
            if s0.get(k) is not None:
                parts.append("%s %s / %s / %s" % (k, s0[k], pk.get(k),
                                                  s1.get(k)))
        print("daemon%s (start / peak / end, %s): %s" % (
            tag, flavour, ", ".join(parts)))

    if a.kill:
        if killed_at is None:
            problems.append("the daemon was never killed")
        else:
            daemon_line(" until the kill", at_kill[0], at_kill[1], at_kill[2])
            print("stress: kill at %.1f s: lost: %d bytes in %d segments; "
                  "after the kill: %s" % (
                      killed_at - t_start, lost[0], lost[1], ", ".join(
                          "%s %d" % kv for kv in sorted(post.items()))))
            if lost[0] or lost[1]:
                problems.append("lost %d bytes in %d segments" % tuple(lost))
            if not post.get("mapping_writes_after_kill"):
                problems.append("no mapping of a mount file was written "
                                "after the kill")
        # the dead mount goes, a new daemon shows everything again
        m.stop(check=False)
        H.check(not H.is_mounted(m.mnt, None), "the dead mount is still "
                "mounted")
        m.start(timeout=30 * slow)
        time.sleep(0.2)
        sampler = Sampler(m)
        sampler.thread.start()

    # --- the whole tree, through the mount (the new one after a kill)
    files, lists = {}, {}
    for r in results:
        files.update(r["state"]["files"])
        for name, L in r["state"]["lists"].items():
            e = lists.setdefault(name, {"len": L["len"], "elems": {}})
            e["elems"].update(L["elems"])
    if not crashes:
        problems += check_tree(m, files, lists, a.kill)

    # --- remove everything; the daemon returns to its start
    leak_fd = leak_mm = None
    if cfg["inject"] == "leak":
        # one close and one unmap "forgotten" until after the leak check
        leak_fd = os.open(m.path("inject_leak"), os.O_CREAT | os.O_RDWR,
                          0o600)
        os.ftruncate(leak_fd, 4096)
        leak_mm = mmap.mmap(leak_fd, 4096)
        print("stress: STRESS_INJECT=leak: one mount file stays open and "
              "mapped through the leak check")
    for n in sorted(os.listdir(m.mnt)):
        p = m.path(n)
        try:
            if os.path.isdir(p):
                os.rmdir(p)
            else:
                os.unlink(p)
        except OSError as e:
            problems.append("removing %s through the mount: %s" % (n, e))
    for n in os.listdir(shm):
        problems.append("%s left in the shm directory" % n)
        os.unlink(os.path.join(shm, n))
    start = sampler.start if a.kill else start0
    end, waited, dropped = settle(m, start)
    with sampler.lock:
        peak = dict(sampler.peak)
    sampler.stopping.set()
    sampler.thread.join()
    daemon_line(" after the remount" if a.kill else "", start, peak, end)
    print("daemon: settled in %.1f s%s" % (
        waited, " (after drop_caches)" if dropped else ""))
    if end["fds"] != start["fds"]:
        problems.append("the daemon has %s fds, %s at the start" % (
            end["fds"], start["fds"]))
    for k in H.STATS_KEYS:
        if start.get(k) is not None and end.get(k) != start[k]:
            problems.append("daemon stats: %s=%s, %s at the start" % (
                k, end.get(k), start[k]))
    perturb = os.environ.get("MALLOC_PERTURB_", "0") not in ("", "0")
    if perturb:
        # glibc then writes every byte malloc() hands out and free() takes
        # back: all of it stays resident, RSS says nothing about leaks
        print("daemon: RSS not checked (MALLOC_PERTURB_ is set)")
    if flavour == "plain" and start["rss"] and end["rss"] and not perturb:
        if end["rss"] > start["rss"] + RSS_SLACK_MIB * 1024:
            problems.append("daemon RSS %s, %s at the start (more than %d "
                            "MiB above)" % (fmt_mib(end["rss"]),
                                            fmt_mib(start["rss"]),
                                            RSS_SLACK_MIB))
    if leak_mm is not None:
        leak_mm.close()
        os.close(leak_fd)
    m.stop(check=True)
    if flavour == "valgrind":
        problems += valgrind_verdict(m)
    if os.environ.get("STRESS_KEEP_LOG"):  # debugging: keep the daemon log
        import shutil
        shutil.copy(m.log_path, os.environ["STRESS_KEEP_LOG"])
    if problems:
        raise H.TestFailure("; ".join(problems))


def check_tree(m, files, lists, after_kill):
    """Every name the workers' models hold, and nothing else, through the
    mount: sizes, contents, modes, list folders and their elements."""
    problems = []
    want = set(files) | set(lists)
    H.poll_until(lambda: set(os.listdir(m.mnt)) == want, 2)
    got = set(os.listdir(m.mnt))
    if got != want:
        problems.append("the mount shows %d names, want %d: missing %s, "
                        "extra %s" % (len(got), len(want),
                                      sorted(want - got)[:5],
                                      sorted(got - want)[:5]))
    nbytes = bad = 0
    for n, (size, sha, mode) in sorted(files.items()):
        try:
            st = os.stat(m.path(n))
            data = read_path(m.path(n))
        except OSError as e:
            bad += 1
            problems.append("%s through the mount: %s" % (n, e))
            continue
        nbytes += len(data)
        if (not stat.S_ISREG(st.st_mode) or st.st_size != size or
                hashlib.sha256(data).hexdigest() != sha or
                stat.S_IMODE(st.st_mode) != mode):
            bad += 1
            problems.append("%s through the mount: size %d mode %o, want "
                            "%d %o%s" % (n, st.st_size,
                                         stat.S_IMODE(st.st_mode), size, mode,
                                         ", other content" if len(data) == size
                                         else ""))
    nelems = 0
    for n, L in sorted(lists.items()):
        try:
            entries = sorted(os.listdir(m.path(n)))
        except OSError as e:
            bad += 1
            problems.append("list %s through the mount: %s" % (n, e))
            continue
        if entries != sorted([".raw"] + [str(i) for i in range(L["len"])]):
            bad += 1
            problems.append("list %s shows %s" % (n, entries))
            continue
        for i, text in sorted(L["elems"].items()):
            nelems += 1
            got = read_path(m.path(n, i))
            if got != bytes.fromhex(text):
                bad += 1
                problems.append("cat %s/%s: %r, want %r" % (
                    n, i, got, bytes.fromhex(text)))
    print("stress: %s shows %d segments (%d bytes) and %d lists (%d "
          "elements): %s" % ("the new mount" if after_kill else "the mount",
                             len(files), nbytes, len(lists), nelems,
                             "all as the models say" if not bad and
                             got == want else "%d wrong" % bad))
    return problems[:10]


def settle(m, start):
    """Wait (bounded) until the daemon's fds and stats are back at start.
    The kernel forgets nodes when their dentries go; drop_caches makes it
    forget the ones it still caches."""
    t0 = time.monotonic()
    dropped = False
    last_drop = t0
    limit = SETTLE_S * (3 if H.WRAPPER else 1)
    while True:
        s = daemon_sample(m)
        same = s["fds"] == start["fds"] and all(
            start.get(k) is None or s.get(k) == start[k] for k in H.STATS_KEYS)
        t = time.monotonic() - t0
        if same or t > limit:
            return s, t, dropped
        if time.monotonic() - last_drop > 1.0:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("2\n")
            dropped = True
            last_drop = time.monotonic()
        time.sleep(0.1)


def valgrind_verdict(m):
    log = m.log_text()
    problems = []
    errs = re.findall(r"ERROR SUMMARY: (\d+) errors", log)
    definite = re.findall(r"definitely lost: ([\d,]+) bytes", log)
    print("valgrind: ERROR SUMMARY %s; definitely lost %s bytes; %s" % (
        "/".join(errs) or "?", "/".join(definite) or "0",
        "; ".join(l.split("== ", 1)[-1] for l in log.splitlines()
                  if "in use at exit" in l or "possibly lost:" in l)))
    if not errs or any(int(e) for e in errs):
        problems.append("valgrind reports errors (see %s)" % m.log_path)
    if any(int(d.replace(",", "")) for d in definite):
        problems.append("valgrind: definite leak")
    if re.search(r"Invalid (read|write|free)|uninitialised", log):
        problems.append("valgrind: invalid access")
    return problems


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("shmfs")
    p.add_argument("--procs", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--kill", action="store_true")
    p.add_argument("--wrapper", default="")
    p.add_argument("--seed", default=None)
    a = p.parse_args()
    if a.seed is None:
        a.seed = str(random.randrange(1 << 32))
    print("stress: seed %s" % a.seed)
    roles_for(a.procs)
    H.WRAPPER = tuple(shlex.split(a.wrapper))
    ARGS = a
    limit = a.seconds + (600 if H.WRAPPER else 180)
    test_stress.timeout = limit
    sys.argv = [sys.argv[0], a.shmfs]
    H.run({"test_stress": test_stress})


ARGS = None

if __name__ == "__main__":
    main()
