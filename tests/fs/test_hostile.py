#!/usr/bin/python3
"""test_hostile.py - issue 5, "Hostile input".

    test_hostile.py SHMFS [TEST-NAME-SUBSTRING ...]

What other modules already check is not repeated here (test_lists.py: a
fixed set of malformed lists written before anyone looks, random mutations,
one list damaged while mounted; test_segments.py: ASCII NAME_MAX, hidden
non-regular entries; test_safety.py: symlinks never followed, a FIFO swapped
in, nobody's basic operations on a 0600 segment).  This module adds:

  - a systematic table of list header corruptions (huge N, N off by one,
    offsets out of order or out of range, bad formats, bad codes, size off
    by one), derived from real CPython lists of several element types.
    Each variant is first shown to be invalid by an independent validator
    written from DESIGN.md and by libshmseg's (shmfsctl ls), and CPython's
    own verdict is noted; then it is written into a segment that is shown
    as a folder while threads and a shell loop run ls, stat, cat (also of
    element files that may vanish, and of element fds opened before the
    damage) and getfattr.  Each must show as a plain file within 2 s with
    its exact bytes, the daemon must live, and the valid bytes must bring
    the folder back.  Run under the ASan build too: the harness fails a
    test whose daemon printed a sanitizer report ("no read outside the
    segment");
  - names: every byte 1..255 but '/', alone and embedded, created in the
    shm dir and through the mount; '/', '.' and '..' in paths; multi-byte
    NAME_MAX and longer; planted symlinks, a directory, a FIFO, a socket
    and a semaphore name that must not be unlinked, renamed over, created
    over or followed through the mount;
  - a second user (nobody) attacking root's 0600 segment and 0600 list in
    every way (open modes, mmap, O_PATH tricks, truncate, chmod, chown,
    utime, xattrs, rename both ways, link, unlink, shell echo/rm -r/rmdir):
    all refused and nothing changes (bytes, mode, owner, times, inode, the
    shm dir's listing), with a control run of the same code on nobody's own
    copies that must succeed.

The header table needs shmfsctl next to SHMFS (same build directory).
"""
import collections
import errno
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import shmfs_harness as H  # noqa: E402
from shmfs_harness import check, eq, expect_errno, elem_text  # noqa: E402

DENIED = ("EACCES", "EPERM")


def shmfsctl():
    p = os.path.join(os.path.dirname(H.SHMFS), "shmfsctl")
    if not os.access(p, os.X_OK):
        raise H.TestFailure("shmfsctl not found next to the daemon: %s" % p)
    return p


# ---------------------------------------------------------------------------
# Malformed list headers: the table

# Real CPython lists the corruptions start from (several element types,
# several slot sizes, the empty list).
BASES = {
    "mixed": [1, "abcdef", 2.5, b"xy", None, True],
    "text": ["x" * 20, b"\x00\xff" * 5, -7, "h\u00e9"],
    "one": [42],
    "flags": [True, False, None, 0.0, -0.0],
    "empty": [],
}

MAX_SLOT = 9999992          # shmseg.h: the largest "<k>s" that fits 8 bytes
NUMBER_FORMATS = [f.ljust(8, b"\0") for f in (b"q", b"d", b"xxxxxxx?")]
NONE_FORMAT = b"xxxxxx?x"


def _q(b, at):
    return struct.unpack_from("q", b, at)[0]


def is_valid_list(b):
    """DESIGN.md's ShareableList layout, checked independently of lib/:
    N >= 0; offsets[0] == 0; offsets strictly increasing by multiples of 8;
    offsets[N] == the data area's size, which makes the total size exactly
    8 + 8(N+1) + offsets[N] + 8N + N; each element's (format, code) a pair
    CPython writes: code 0 with q/d/xxxxxxx?, 3 with xxxxxx?x, 1 or 2 with
    "<slot>s" NUL-padded (slot in decimal, no leading zero)."""
    size = len(b)
    if size < 16:
        return False
    n = _q(b, 0)
    if n < 0:
        return False
    fixed = 8 + 8 * (n + 1) + 9 * n
    if fixed > size:
        return False
    data_size = size - fixed
    offs = struct.unpack_from("%dq" % (n + 1), b, 8)
    if offs[0] != 0 or offs[n] != data_size:
        return False
    fmt_at = 8 * (n + 2) + data_size
    for i in range(n):
        slot = offs[i + 1] - offs[i]
        if slot <= 0 or slot % 8 or slot > MAX_SLOT:
            return False
        fmt = b[fmt_at + 8 * i:fmt_at + 8 * i + 8]
        code = b[fmt_at + 8 * n + i]
        if code == 0:
            ok = fmt in NUMBER_FORMATS
        elif code == 3:
            ok = fmt == NONE_FORMAT
        elif code in (1, 2):
            ok = fmt == (b"%ds" % slot).ljust(8, b"\0")
        else:
            ok = False
        if not ok:
            return False
    return True


class Layout:
    """Where the parts of a valid list are."""

    def __init__(self, b):
        self.size = len(b)
        self.n = n = _q(b, 0)
        self.offsets = list(struct.unpack_from("%dq" % (n + 1), b, 8))
        self.data_size = self.offsets[n]
        self.data = 8 * (n + 2)
        self.fmts = self.data + self.data_size
        self.codes = self.fmts + 8 * n

    def off_at(self, i):
        return 8 + 8 * i

    def fmt_at(self, i):
        return self.fmts + 8 * i

    def slot(self, i):
        return self.offsets[i + 1] - self.offsets[i]


def corruptions(good, values):
    """[(category, description, bytes)]: every variant invalid, none equal
    to good, no two equal."""
    L = Layout(good)
    n, size, ds = L.n, L.size, L.data_size
    out = []

    def whole(cat, what, b):
        out.append((cat, what, bytes(b)))

    def put(cat, what, at, raw):
        b = bytearray(good)
        b[at:at + len(raw)] = raw
        whole(cat, what, b)

    def put_q(cat, what, at, v):
        put(cat, what, at, struct.pack("<Q" if v >= 2 ** 63 else "q", v))

    # --- huge N
    for v, w in ((2 ** 63 - 1, "2**63-1"), (2 ** 64 - 1, "2**64-1 (ff*8)"),
                 (2 ** 63, "2**63 (INT64_MIN)"), (2 ** 62, "2**62"),
                 (2 ** 32 + n, "2**32+N (true low word)"),
                 (2 ** 31, "2**31"), (size // 8, "size/8"),
                 ((size - 16) // 25 + 1, "smallest N too big for the size")):
        put_q("huge N", "N = " + w, 0, v)
    # --- N off by one
    put_q("N off by one", "N + 1", 0, n + 1)
    if n >= 1:
        put_q("N off by one", "N - 1", 0, n - 1)
        put_q("N off by one", "N = 0", 0, 0)
    # --- offsets out of order
    put_q("offsets out of order", "offsets[0] = 8", L.off_at(0), 8)
    put_q("offsets out of order", "offsets[0] = -8", L.off_at(0), -8)
    if n >= 2:
        put_q("offsets out of order", "offsets[1] = offsets[0] (empty slot)",
              L.off_at(1), 0)
        put_q("offsets out of order", "offsets[N-1] = offsets[N] (empty last "
              "slot)", L.off_at(n - 1), ds)
        put_q("offsets out of order", "offsets[1] + 4 (not a multiple of 8)",
              L.off_at(1), L.offsets[1] + 4)
        b = bytearray(good)
        b[L.off_at(1):L.off_at(1) + 8] = good[L.off_at(2):L.off_at(2) + 8]
        b[L.off_at(2):L.off_at(2) + 8] = good[L.off_at(1):L.off_at(1) + 8]
        whole("offsets out of order", "offsets[1] and [2] swapped", b)
        put_q("offsets out of order", "offsets[1] = offsets[2] + 8 (one slot "
              "negative)", L.off_at(1), L.offsets[2] + 8)
    if n >= 3:
        mid = L.offsets[1:n]
        b = bytearray(good)
        b[L.off_at(1):L.off_at(n)] = struct.pack("%dq" % len(mid), *mid[::-1])
        whole("offsets out of order", "offsets[1..N-1] decreasing", b)
    # --- offsets out of range
    for v, w in ((ds + 8, "data size + 8"), (ds - 8, "data size - 8"),
                 (ds + 1, "data size + 1"), (size, "segment size"),
                 (size + 8, "segment size + 8"), (2 ** 63 - 1, "2**63-1"),
                 (2 ** 63 - 8, "2**63-8"), (-1, "-1"), (-8, "-8"),
                 (-2 ** 63, "-2**63"), (0, "0")):
        put_q("offsets out of range", "offsets[N] = " + w, L.off_at(n), v)
    if n >= 2:
        for v, w in ((ds + 8, "past the data area"),
                     (size, "segment size exactly"), (-8, "-8"),
                     (2 ** 62, "2**62"), (2 ** 63 - 8, "2**63-8"),
                     (-2 ** 63 + 8, "-2**63+8")):
            put_q("offsets out of range", "offsets[1] = " + w, L.off_at(1), v)

    # --- bad formats / bad codes, on the first element of each type
    def first(pred):
        for i, v in enumerate(values):
            if pred(v):
                return i
        return None
    number = first(lambda v: type(v) in (int, float))
    boolean = first(lambda v: type(v) is bool)
    none = first(lambda v: v is None)
    texts = [first(lambda v: type(v) is str),
             first(lambda v: type(v) is bytes)]

    def fmt(i, raw):
        put("bad format", "element %d (%s): format %r" % (
            i, type(values[i]).__name__, raw), L.fmt_at(i),
            raw.ljust(8, b"\0"))

    def code(i, c):
        put("bad code", "element %d (%s): code %d" % (
            i, type(values[i]).__name__, c), L.codes + i, bytes([c]))
    if number is not None:
        for raw in (b"z", b"Q", b"i", b"qq", b"\0", b"q\0\0\0\0\0\0X",
                    b"8s", b"xxxxxx?x", b"Q" * 8):
            fmt(number, raw)
        for c in (1, 2, 3, 4, 0x7f, 0x80, 0xff):
            code(number, c)
    if boolean is not None:
        for raw in (b"xxxxxx??", b"xxxxxxx", b"?", b"xxxxxx?x"):
            fmt(boolean, raw)
        for c in (1, 3, 4):
            code(boolean, c)
    if none is not None:
        for raw in (b"xxxxxxx?", b"q", b"xxxxxx?"):
            fmt(none, raw)
        for c in (0, 1, 2, 5):
            code(none, c)
    for text in texts:
        if text is None:
            continue
        k = L.slot(text)
        for raw in (b"%ds" % (k + 8), b"%ds" % (k - 8 if k > 8 else 2 * k),
                    b"%d" % k, b"s", b"0%ds" % k, b"%dsX" % k, b"%dp" % k,
                    b"%dS" % k, b"+%ds" % k, b"q", b"99999999",
                    b"9999999s"):
            fmt(text, raw)
        for c in (0, 3, 4, 0xff):
            code(text, c)
    if n >= 2:
        b = bytearray(good)
        b[L.fmt_at(1):L.codes] = good[L.fmt_at(0):L.codes - 8]
        whole("bad format", "formats shifted by 8 bytes (laid out for N-1)", b)
    if n >= 1:
        put("bad format", "all formats NUL", L.fmts, b"\0" * 8 * n)
        put("bad format", "all formats 0xff", L.fmts, b"\xff" * 8 * n)
        put("bad code", "all codes 0xff", L.codes, b"\xff" * n)
        put("bad code", "all codes 4", L.codes, b"\x04" * n)
    # --- size off by one
    whole("size off by one", "one byte short", good[:-1])
    whole("size off by one", "one byte long (NUL)", good + b"\0")
    whole("size off by one", "one byte long (0xff)", good + b"\xff")
    whole("size off by one", "8 bytes short", good[:-8])
    whole("size off by one", "8 bytes long", good + b"\0" * 8)
    whole("size off by one", "data area 8 longer, tail moved",
          good[:L.fmts] + b"\0" * 8 + good[L.fmts:])
    whole("size off by one", "data area 1 longer, tail moved",
          good[:L.fmts] + b"\0" + good[L.fmts:])
    if L.data_size >= 8:
        whole("size off by one", "data area 8 shorter, tail moved",
              good[:L.fmts - 8] + good[L.fmts:])
    for cut in (16, 15, 8, 1, 0):
        whole("size off by one", "cut to %d bytes" % cut, good[:cut])

    seen, table = {good}, []
    for cat, what, b in out:
        if b in seen:
            continue
        seen.add(b)
        if is_valid_list(b):
            raise H.TestFailure("table error: %s / %s is a valid list" % (
                cat, what))
        table.append((cat, what, b))
    return table


CPYTHON_VERDICTS = r'''
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
sys.path.insert(0, sys.argv[1])
import shmfs_harness as H
out = {}
for p in sys.argv[2:]:
    try:
        sl = H.py_list(p)
        [sl[i] for i in range(len(sl))]
        out[p] = "accepted"
    except BaseException as e:
        out[p] = type(e).__name__
print(json.dumps(out))
'''


def _check_table_outside_the_mount(tables):
    """Every variant in a scratch directory: libshmseg (shmfsctl ls) must
    call each a plain segment and each original a list; CPython's verdict
    (constructor plus reading every element) is noted."""
    d = H.new_shm_dir(0o755)
    names = {}
    for base, (good, _, table) in tables.items():
        H.write_file(os.path.join(d, base + "-good"), good)
        for k, (cat, what, b) in enumerate(table):
            nm = "%s-%d" % (base, k)
            H.write_file(os.path.join(d, nm), b)
            names[nm] = (base, cat, what)
    r = subprocess.run([shmfsctl(), "--dir", d, "ls", "--json"],
                       capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, "shmfsctl ls --json status (%s)" % r.stderr.strip())
    kinds = {s["name"]: s["kind"] for s in json.loads(r.stdout)["segments"]}
    for base in tables:
        eq(kinds.get(base + "-good"), "list", "libshmseg on CPython's %s "
           "list" % base)
    wrong = ["%s: %s / %s" % (nm, c, w) for nm, (b, c, w) in names.items()
             if kinds.get(nm) != "segment"]
    check(not wrong, "libshmseg's validator accepts %d malformed lists: %s"
          % (len(wrong), "; ".join(wrong[:10])))
    r = subprocess.run([sys.executable, "-c", CPYTHON_VERDICTS, HERE] +
                       [os.path.join(d, nm) for nm in names],
                       capture_output=True, text=True, timeout=120)
    eq(r.returncode, 0, "CPython verdicts (%s)" % r.stderr.strip()[-500:])
    verdicts = json.loads(r.stdout.strip().splitlines()[-1])
    accepted = collections.Counter()
    for p, v in verdicts.items():
        base, cat, what = names[os.path.basename(p)]
        if v == "accepted":
            accepted[cat] += 1
    H.note("libshmseg rejects all %d variants; CPython's ShareableList "
           "refuses %d, accepts %d (%s): it checks far less" % (
               len(names), len(names) - sum(accepted.values()),
               sum(accepted.values()),
               ", ".join("%s %d" % kv for kv in sorted(accepted.items()))))
    for nm in os.listdir(d):
        os.unlink(os.path.join(d, nm))


def _overwrite(path, data):
    """Write data over the segment in place and cut it to len(data), with
    write(2)/ftruncate(2) (what a process writing a header does)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        if data:
            os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


class Readers:
    """Threads and a shell loop that keep looking at the mount: ls/stat,
    cat (of entries, of element files that may vanish, of element fds
    opened while the list was valid), getxattr.  Errors are counted by
    (operation, errno); anything but an OSError is kept as a failure.
    Every element read that succeeds must give that element's text (the
    test never changes a value), or at least a value made of bytes the
    segment holds (see derived()): never bytes from elsewhere."""

    def __init__(self, m, bases, versions):
        self.m, self.names = m, list(bases)
        self.versions = versions
        self.other, self.other_example = 0, None
        self.expect = {}
        for b, values in bases.items():
            for e in range(4):
                self.expect[m.path(b, str(e))] = (
                    elem_text(values[e]) if e < len(values) else None)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ops = collections.Counter()
        self.errors = collections.Counter()
        self.wrong = []
        self.crashes = []
        self.threads = [threading.Thread(target=self._run, args=(f,))
                        for f in (self._ls_stat, self._cat, self._xattr,
                                  self._fds)]
        self.stopfile = os.path.join(H.base_dir(), H.new_name("stop"))
        mq = "'%s'" % m.mnt
        self.loop = ("while [ ! -e '%s' ]; do ls -laR %s; cat %s/* %s/*/* "
                     "%s/*/.raw; stat %s/* %s/*/*; getfattr -R -d -m - %s; "
                     "done >/dev/null 2>&1" % ((self.stopfile,) + (mq,) * 7))
        self.proc = None

    def start(self):
        for t in self.threads:
            t.start()
        self.proc = subprocess.Popen(["sh", "-c", self.loop],
                                     stdin=subprocess.DEVNULL)

    def finish(self):
        self.stop.set()
        H.write_file(self.stopfile, b"")
        for t in self.threads:
            t.join(20)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        check(not any(t.is_alive() for t in self.threads),
              "a reader thread is stuck in the mount")

    def _run(self, fn):
        try:
            while not self.stop.is_set():
                fn()
        except BaseException as e:
            with self.lock:
                self.crashes.append("%s: %s: %s" % (fn.__name__,
                                                    type(e).__name__, e))

    def do(self, op, fn, *args):
        try:
            r = fn(*args)
        except OSError as e:
            with self.lock:
                self.ops[op] += 1
                self.errors[(op, H.ename(e.errno))] += 1
            return None
        with self.lock:
            self.ops[op] += 1
        return r

    def got(self, path, data, off):
        """An element read at @off gave @data."""
        want = self.expect.get(path, False)
        if want is False or (want is not None and data == want[off:]):
            return
        with self.lock:
            self.other += 1
            if off == 0 and want is not None and self.derived(path, data):
                if not self.other_example:
                    self.other_example = "%s: %r, not %r" % (
                        os.path.basename(os.path.dirname(path)) + "/" +
                        os.path.basename(path), data[:40], want[:40])
                return
            if off != 0 and want is not None:
                return          # a suffix of an unknown text: not judged
            if len(self.wrong) < 10:
                self.wrong.append("%s at %d: %r, want %s" % (
                    path, off, data[:80], "an error" if want is None
                    else repr(want[off:off + 80])))

    def derived(self, path, text):
        """Could @text (an element read) be made of bytes the segment held
        (its valid bytes or one of the variants)?  A list damaged under a
        map taken before the damage may give another element's bytes: the
        map re-checks only the element's own offsets, format and code."""
        versions = self.versions[os.path.basename(os.path.dirname(path))]
        body = text[:-1] if text.endswith(b"\n") else text
        cands = [text, body]
        if body in (b"True", b"False", b"None"):
            return True
        try:
            cands.append(struct.pack("q", int(body)))
        except ValueError:
            pass
        try:
            cands.append(struct.pack("d", float(body)))
        except (ValueError, OverflowError):
            pass
        return any(c in v for c in cands if c for v in versions)

    def _ls_stat(self):
        m = self.m
        self.do("ls", os.listdir, m.mnt)
        for n in self.names:
            p = m.path(n)
            st = self.do("stat", os.lstat, p)
            if st is not None and stat.S_ISDIR(st.st_mode):
                for e in self.do("ls", os.listdir, p) or []:
                    self.do("stat", os.lstat, os.path.join(p, e))
            self.do("stat", os.stat, os.path.join(p, "0"))
            self.do("stat", os.stat, os.path.join(p, ".raw"))

    def _cat(self):
        m = self.m
        for n in self.names:
            p = m.path(n)
            self.do("cat", H.read_file, p)
            self.do("cat", H.read_file, os.path.join(p, ".raw"))
            for e in ("0", "1", "2", "3"):
                pe = os.path.join(p, e)
                data = self.do("cat", H.read_file, pe)
                if data is not None:
                    self.got(pe, data, 0)

    def _xattr(self):
        m = self.m
        for n in self.names:
            p = m.path(n)
            self.do("xattr", os.getxattr, p, "user.shmfs.kind")
            self.do("xattr", os.getxattr, p, "user.shmfs.format")
            self.do("xattr", os.listxattr, p)
            self.do("xattr", os.getxattr, os.path.join(p, "0"),
                    "user.shmfs.type")
            self.do("xattr", os.getxattr, os.path.join(p, ".raw"),
                    "user.shmfs.kind")

    def _fds(self):
        """Element fds opened while the folder was valid, read on while
        the header is damaged under them (the daemon's map of the list is
        still the old one when the size did not change)."""
        fds = []
        try:
            for n in self.names:
                for e in ("0", "1", "3"):
                    p = self.m.path(n, e)
                    fd = self.do("open", os.open, p, os.O_RDONLY)
                    if fd is not None:
                        fds.append((fd, p))
            end = time.monotonic() + 0.2
            while time.monotonic() < end and not self.stop.is_set():
                for fd, p in fds:
                    for off in (0, 1):
                        data = self.do("fd read", os.pread, fd, 4096, off)
                        if data is not None:
                            self.got(p, data, off)
                    self.do("fd stat", os.fstat, fd)
        finally:
            for fd, _ in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass


def _cycle_variants(m, tables, to_file, to_folder, odd, limit=12.0):
    """For every base list at once, each on its own pace: write variant k
    over the folder's segment, wait until the name is a plain file with
    exactly those bytes and kind, write the valid bytes back, wait until
    it is a folder again with the right elements, go on with k + 1.

    A look that finds the new kind, then the old one again, is possible
    for a moment: a lookup the kernel sent before the write may be
    answered after the daemon dropped the entry (FUSE has no versioning
    for entries; the daemon's second look, 500 ms later, catches it).  So
    each state is checked as a whole until it holds, within `limit`; what
    was seen on the way is counted in `odd`.  Should that race hit the
    second look too, the kernel's entry times out (10 s): `limit` is that
    bound; the caller checks the usual one (2 s) for all but a few."""
    state = {}                    # base -> (k, phase, started)

    def start(b, k):
        table = tables[b][2]
        if k == len(table):
            state.pop(b, None)
            return
        _overwrite(m.shm_path(b), table[k][2])
        state[b] = (k, "bad", time.monotonic())

    def is_file_with(p, bad):
        if not os.path.isfile(p):
            return False
        try:
            if H.read_file(p) != bad:
                odd["cat of the file gave other bytes"] += 1
                return False
            if os.getxattr(p, "user.shmfs.kind") != b"segment":
                odd["kind not segment right after cat"] += 1
                return False
        except OSError as e:
            odd["%s right after stat said file" % H.ename(e.errno)] += 1
            return False
        return True

    def is_folder_with(p, values):
        if not os.path.isdir(p):
            return False
        if values:
            try:
                got = H.read_file(os.path.join(p, str(len(values) - 1)))
            except OSError as e:
                odd["%s on an element right after stat said folder" %
                    H.ename(e.errno)] += 1
                return False
            eq(got, elem_text(values[-1]), "%s: last element after the "
               "restore" % p)
        return True
    for b in tables:
        start(b, 0)
    while state:
        for b in list(state):
            k, phase, t0 = state[b]
            good, values, table = tables[b]
            cat, what, bad = table[k]
            what = "%s list, %s: %s" % (b, cat, what)
            p = m.path(b)
            waited = time.monotonic() - t0
            if phase == "bad":
                if is_file_with(p, bad):
                    to_file.append(waited)
                    _overwrite(m.shm_path(b), good)
                    state[b] = (k, "good", time.monotonic())
                else:
                    check(waited < limit, "%s: not a plain file with its "
                          "bytes within %.0f s (now %s; seen: %s)" % (
                              what, limit, "a folder" if os.path.isdir(p)
                              else "a file" if os.path.isfile(p) else
                              "missing", dict(odd)))
            else:
                if is_folder_with(p, values):
                    to_folder.append(waited)
                    start(b, k + 1)
                else:
                    check(waited < limit, "%s list: not a folder again "
                          "%.0f s after its bytes were restored (after %s)"
                          % (b, limit, what))
        check(m.alive(), "the daemon died")
        time.sleep(0.002)


# A header written with write(2) shows within this (the daemon looks 20 ms
# and 500 ms after a write); 1 change in 50 may take longer (the race in
# _cycle_variants), up to the kernel's entry timeout.
SHOW_LIMIT = 2.0

# Errors a reader may meet while a folder turns into a file and back: the
# name is a folder or a file at the moment, an element or its list is gone,
# a read of a list found damaged (EIO), an xattr a kind does not have.
READER_ERRORS_OK = {"ENOENT", "ENOTDIR", "EISDIR", "ENODATA", "EIO",
                    "ESTALE"}


@H.timeout(120)
def test_every_header_corruption_while_readers_run(m):
    """The corruption table (corruptions()) of five CPython lists, each
    variant shown invalid outside the mount first, then written in place
    over a segment the mount shows as a folder while Readers run: each
    variant must become a plain file with its exact bytes and kind
    "segment", and the valid bytes a folder again with its elements (see
    _cycle_variants for the bound); the readers meet only the errors of a
    name changing kind, never bytes from outside the segment; the daemon
    lives (and, under ASan, reports nothing)."""
    tables = {}
    for base, values in BASES.items():
        good, _ = H.make_list(m.shm, base, values)
        check(is_valid_list(good), "the independent validator rejects "
              "CPython's %s list" % base)
        tables[base] = (good, values, corruptions(good, values))
    for base in BASES:
        ok, _ = H.poll_until(lambda: os.path.isdir(m.path(base)), 2)
        check(ok, "CPython's %s list is not a folder" % base)
    cats = collections.Counter(c for _, _, t in tables.values()
                               for c, _, _ in t)
    H.note("%d variants: %s" % (sum(cats.values()), ", ".join(
        "%s %d" % kv for kv in sorted(cats.items()))))
    _check_table_outside_the_mount(tables)

    readers = Readers(m, BASES, {b: [good] + [v for _, _, v in table]
                                 for b, (good, _, table) in tables.items()})
    readers.start()
    to_file, to_folder, odd = [], [], collections.Counter()
    try:
        _cycle_variants(m, tables, to_file, to_folder, odd)
    finally:
        readers.finish()

    def spread(ts):
        v = sorted(ts)
        return "median %.0f ms, 90%% %.0f ms, worst %.0f ms" % (
            v[len(v) // 2] * 1e3, v[len(v) * 9 // 10] * 1e3, v[-1] * 1e3)
    H.note("%d variants shown as files: %s; folders again: %s" % (
        len(to_file), spread(to_file), spread(to_folder)))
    if odd:
        H.note("seen on the way: %s" % ", ".join(
            "%s %d" % kv for kv in sorted(odd.items())))
    late = [t for t in to_file + to_folder if t > SHOW_LIMIT]
    check(len(late) <= max(1, len(to_file) // 50), "%d of %d changes took "
          "over %.0f s to show (worst %.1f s)" % (
              len(late), 2 * len(to_file), SHOW_LIMIT, max(late or [0])))
    H.note("readers: %s" % ", ".join("%s %d" % kv for kv in
                                     sorted(readers.ops.items())))
    H.note("reader errors: %s" % (", ".join(
        "%s %s %d" % (op, e, c) for (op, e), c in
        sorted(readers.errors.items())) or "none"))
    eq(readers.crashes, [], "reader threads")
    if readers.other:
        H.note("%d element reads gave another value made of the segment's "
               "bytes (a list damaged under the daemon's map), e.g. %s" % (
                   readers.other, readers.other_example))
    eq(readers.wrong, [], "element reads that gave bytes the segment never "
       "held")
    check(readers.proc.returncode is not None, "shell reader did not stop")
    bad = {k: c for k, c in readers.errors.items()
           if k[1] not in READER_ERRORS_OK}
    eq(bad, {}, "reader errors other than %s" % "/".join(
        sorted(READER_ERRORS_OK)))
    for op in ("ls", "stat", "cat", "xattr", "fd read"):
        check(readers.ops[op] > 0, "no %s done by the readers" % op)
    check(m.alive(), "daemon alive")


def test_kind_change_not_undone_by_a_listing(m):
    """A header damaged (or repaired) in place, same size, while something
    holds the folder (or file) open so that the daemon keeps its node: once
    the daemon has seen the change and dropped the kernel's entry, an ls
    right then must not bring the old kind back.  (It did: the listing
    answered from the node's recent classification, node_recent_kind(),
    and the stale folder stayed until the next check or for up to half the
    cache time, 5 s, under a steady ls; watch.c's check_kind() now clears
    that classification, node_kind_gone().)"""
    values = [1, "abc", 2.5]
    good, _ = H.make_list(m.shm, "L", values)
    bad = struct.pack("q", 2 ** 40) + good[8:]
    ok, _ = H.poll_until(lambda: os.path.isdir(m.path("L")), 2)
    check(ok, "L is a folder")
    for rnd in range(3):
        for data, isit, want in ((bad, os.path.isfile, "a plain file"),
                                 (good, os.path.isdir, "a folder")):
            os.stat(m.path("L"))               # the kernel's entry, fresh
            flags = os.O_RDONLY | (os.O_DIRECTORY if data is bad else 0)
            hold = os.open(m.path("L"), flags)  # keeps the daemon's node
            try:
                _overwrite(m.shm_path("L"), data)
                # the daemon looks 20-30 ms after the write (watch.c)
                time.sleep(0.2)
                os.listdir(m.mnt)
                check(isit(m.path("L")), "round %d: %s written in place "
                      "(same size), then ls: not %s" % (
                          rnd, "a damaged header" if data is bad else
                          "the valid header", want))
            finally:
                os.close(hold)
    eq(H.read_file(m.path("L", "1")), b"abc\n", "element 1 at the end")


# ---------------------------------------------------------------------------
# Names


def _byte_names():
    """Every byte 1..255 but '/', alone (but '.') and between 'a' and 'z'."""
    names = []
    for c in range(1, 256):
        if c == 0x2f:
            continue
        if c != 0x2e:
            names.append(bytes([c]))
        names.append(b"a" + bytes([c]) + b"z")
    return names


def _check_byte_names(m, names, how):
    mnt, shm = os.fsencode(m.mnt), os.fsencode(m.shm)
    eq(sorted(os.listdir(shm)), sorted(names), how + ": the shm dir")
    eq(sorted(os.listdir(mnt)), sorted(names), how + ": ls of the mount")
    with os.scandir(mnt) as it:
        kinds = {e.name: e.is_file(follow_symlinks=False) for e in it}
    eq(sorted(n for n, f in kinds.items() if not f), [],
       how + ": entries not shown as regular files")
    for nm in names:
        p = mnt + b"/" + nm
        st = os.stat(p)
        check(stat.S_ISREG(st.st_mode), "%s: %r not a regular file" % (how,
                                                                        nm))
        eq(st.st_size, 2 + len(nm), "%s: size of %r" % (how, nm))
        eq(H.read_file(p), b"<" + nm + b">", "%s: content of %r" % (how, nm))
        eq(st.st_ino, os.stat(shm + b"/" + nm).st_ino,
           "%s: inode of %r" % (how, nm))
    for nm in names:
        os.unlink(mnt + b"/" + nm)
    eq(os.listdir(shm), [], how + ": the shm dir after unlinking every name "
       "through the mount")
    eq(os.listdir(mnt), [], how + ": the mount after the unlinks")


@H.timeout(60)
def test_every_byte_in_names(m):
    names = _byte_names()
    mnt, shm = os.fsencode(m.mnt), os.fsencode(m.shm)
    for nm in names:
        H.write_file(shm + b"/" + nm, b"<" + nm + b">")
    _check_byte_names(m, names, "made in the shm dir")
    for nm in names:
        fd = os.open(mnt + b"/" + nm, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                     0o640)
        os.write(fd, b"<" + nm + b">")
        os.close(fd)
    for nm in names:
        eq(H.read_file(shm + b"/" + nm), b"<" + nm + b">",
           "made through the mount: %r in the shm dir" % nm)
    # renames between byte names, through the mount
    for nm in names:
        if len(nm) == 3:
            os.rename(mnt + b"/" + nm, mnt + b"/" + nm[1:2] + b"\xff" + nm)
    renamed = [nm[1:2] + b"\xff" + nm if len(nm) == 3 else nm
               for nm in names]
    for old, new in zip(names, renamed):
        if old != new:
            eq(H.read_file(shm + b"/" + new), b"<" + old + b">",
               "renamed %r -> %r" % (old, new))
            os.rename(shm + b"/" + new, shm + b"/" + old)
    _check_byte_names(m, names, "made through the mount")


def _snapshot_dir(path):
    """name -> (type, ino, mode, size, mtime_ns, ctime_ns, link target)."""
    out = {}
    for nm in os.listdir(path):
        p = os.path.join(path, nm)
        st = os.lstat(p)
        out[nm] = (stat.S_IFMT(st.st_mode), st.st_ino, st.st_mode,
                   st.st_size if not stat.S_ISDIR(st.st_mode) else None,
                   st.st_mtime_ns, st.st_ctime_ns,
                   os.readlink(p) if stat.S_ISLNK(st.st_mode) else None)
    return out


def _prefixed_in_real_shm():
    return sorted(n for n in os.listdir(H.REAL_SHM) if n.startswith(H.PREFIX))


def test_slash_dot_and_dotdot_stay_inside(m):
    """'/' in a name is the kernel's path walk: ENOTDIR through a segment,
    ENOENT through a list folder or a planted directory, and nothing is
    touched anywhere else.  '.', '..' and '../x' at the root and in a list
    folder resolve by the kernel's rules (the mount root's '..' is the
    mountpoint's parent, never the shm dir's parent) and never create,
    remove or reveal anything outside the shm dir."""
    H.write_file(m.shm_path("a"), b"AAA")
    H.write_file(m.shm_path("b"), b"BBB")
    H.make_list(m.shm, "L", [1, "x"])
    os.mkdir(m.shm_path("d"))
    H.write_file(m.shm_path("d", "f"), b"FFF")
    ok, _ = H.poll_until(lambda: os.path.isdir(m.path("L")), 2)
    check(ok, "L is a folder")
    # a file next to the shm dir (in its parent), that '..' must not reach
    esc = H.new_name("esc")
    H.write_file(os.path.join(os.path.dirname(m.shm), esc), b"outside")
    parent_mnt = os.path.dirname(m.mnt)
    before = (_snapshot_dir(m.shm), _snapshot_dir(m.shm_path("d")),
              _prefixed_in_real_shm(), sorted(os.listdir(parent_mnt)))
    NE, ND = errno.ENOENT, errno.ENOTDIR
    res = {}

    def exp(allowed, fn, *args, what):
        res[what] = expect_errno(allowed, fn, *args, what=what)

    def create(p):
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
    P = m.path
    exp(ND, os.stat, P("a", "b"), what="stat a/b")
    exp(ND, os.stat, P("a") + "/", what="stat a/")
    exp(ND, create, P("a", "b"), what="create a/b")
    exp(ND, os.unlink, P("a", "b"), what="unlink a/b")
    exp(ND, os.rename, P("b"), P("a", "b"), what="rename b a/b")
    exp(ND, os.rename, P("a", "b"), P("c"), what="rename a/b c")
    exp((errno.EISDIR, ND), create, P("b") + "/", what="create b/")
    exp(NE, os.stat, P("L", "b"), what="stat L/b")
    exp(NE, os.unlink, P("L", "b"), what="unlink L/b")
    exp((NE,), os.rename, P("L", "b"), P("c"), what="rename L/b c")
    exp((errno.EPERM, errno.EACCES, errno.EXDEV, errno.EINVAL,
         errno.EOPNOTSUPP), os.rename, P("b"), P("L", "b"),
        what="rename b L/b")
    exp(NE, os.stat, P("d", "f"), what="stat d/f")
    exp(NE, H.read_file, P("d", "f"), what="cat d/f")
    exp(NE, os.unlink, P("d", "f"), what="unlink d/f")
    exp(NE, create, P("d", "new"), what="create d/new")
    exp(NE, os.rename, P("b"), P("d", "f"), what="rename b d/f")
    exp(NE, os.rmdir, P("d"), what="rmdir d")
    exp(NE, os.stat, P("d", "..", "a"), what="stat d/../a")
    # '..' from the root is the mountpoint's parent, not the shm dir's
    eq(os.stat(P("..")).st_ino, os.stat(parent_mnt).st_ino,
       "the mount root's '..'")
    eq(os.stat(P("L", "..")).st_ino, os.stat(m.mnt).st_ino, "L/..")
    eq(os.stat(P("L", ".")).st_ino, os.stat(P("L")).st_ino, "L/.")
    eq(H.read_file(P("L", "..", "a")), b"AAA", "L/../a")
    eq(H.read_file(P(".", "a")), b"AAA", "./a")
    eq(H.read_file(P("L", ".", "0")), b"1\n", "L/./0")
    exp(NE, os.stat, P("..", esc), what="stat ../ESC")
    exp(NE, os.stat, P("L", "..", "..", esc), what="stat L/../../ESC")
    exp(NE, os.stat, P("L", "..", "L", "..", "..", esc),
        what="stat L/../L/../../ESC")
    # creations and renames that stay inside land in the shm dir
    create(P("L", "..", "new1"))
    create(P(".", "new2"))
    os.rename(P("b"), P("L", "..", "b2"))
    os.rename(P("L", "..", "b2"), P(".", "b"))
    # ... and those that leave the mount are the kernel's EXDEV
    exp(errno.EXDEV, os.rename, P("a"), P("..", H.new_name("x")),
        what="rename a ../X")
    exp(errno.EXDEV, os.rename, P("a"), P("L", "..", "..", H.new_name("x")),
        what="rename a L/../../X")
    exp((errno.EBUSY, errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST,
         errno.EINVAL), os.rename, P("a"), P("L", ".."),
        what="rename a L/..")
    exp((errno.EBUSY, errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST,
         errno.EINVAL), os.rename, P("a"), P("."), what="rename a .")
    exp((errno.EINVAL, errno.EBUSY, errno.EPERM), os.rename, P("L"),
        P("L", "sub"), what="rename L L/sub")
    for nm in ("...", ".. ", "..\n", ". ", "....", ".a."):
        create(P(nm))
        check(os.path.isfile(m.shm_path(nm)), "%r not made in the shm dir"
              % nm)
        os.unlink(P(nm))
    H.note("; ".join("%s: %s" % kv for kv in res.items()))
    after = (_snapshot_dir(m.shm), _snapshot_dir(m.shm_path("d")),
             _prefixed_in_real_shm(), sorted(os.listdir(parent_mnt)))
    eq(sorted(after[0]), sorted(list(before[0]) + ["new1", "new2"]),
       "the shm dir's names")
    eq(after[1], before[1], "the planted directory d")
    eq(H.read_file(m.shm_path("d", "f")), b"FFF", "d/f")
    eq(after[2], before[2], "names in the shm dir's parent (%s)" %
       H.REAL_SHM)
    eq(after[3], before[3], "names in the mountpoint's parent")
    eq(H.read_file(os.path.join(os.path.dirname(m.shm), esc)), b"outside",
       "the file next to the shm dir")
    os.unlink(os.path.join(os.path.dirname(m.shm), esc))
    eq(H.read_file(m.shm_path("a")), b"AAA", "a")
    eq(H.read_file(m.shm_path("b")), b"BBB", "b")
    check(m.alive(), "daemon alive")


def _name_of_bytes(ch, nbytes):
    """A name of exactly nbytes UTF-8 bytes, mostly the character ch."""
    w = len(ch.encode())
    return ch * (nbytes // w) + "a" * (nbytes % w)


def test_name_max_multibyte_and_far_over(m):
    """NAME_MAX counts bytes: 255 bytes of 2-, 3- and 4-byte characters
    work (made through the mount or in the shm dir), 256 give ENAMETOOLONG
    for lookup, create, rename target and unlink; so do names of 1024 (the
    longest the kernel passes to FUSE), 1025 and 4000 bytes; a list folder
    cannot be renamed to one either."""
    H.make_list(m.shm, "L", [1])
    H.poll_until(lambda: os.path.isdir(m.path("L")), 2)
    made = ["L"]
    TL = errno.ENAMETOOLONG
    for ch in ("\u00e9", "\u20ac", "\U0001f600"):
        ok = _name_of_bytes(ch, 255)
        eq(len(ok.encode()), 255, "name length")
        over = [_name_of_bytes(ch, 256), ch * (256 // len(ch.encode()) + 1)]
        fd = os.open(m.path(ok), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.write(fd, ch.encode())
        os.close(fd)
        eq(H.read_file(m.shm_path(ok)), ch.encode(), "255-byte %r name" % ch)
        made.append(ok)
        for nm in over:
            what = "%d-byte name of %r" % (len(nm.encode()), ch)
            expect_errno(TL, os.stat, m.path(nm), what="stat " + what)
            expect_errno(TL, os.open, m.path(nm), os.O_CREAT | os.O_WRONLY,
                         0o600, what="create " + what)
            expect_errno(TL, os.rename, m.path(ok), m.path(nm),
                         what="rename to " + what)
            expect_errno(TL, os.rename, m.path("L"), m.path(nm),
                         what="rename the list folder to " + what)
            expect_errno(TL, os.unlink, m.path(nm), what="unlink " + what)
        # made directly: listed with its exact bytes, readable, renamable
        direct = _name_of_bytes(ch, 254) + "b"
        if direct.encode() == ok.encode():
            direct = "b" + _name_of_bytes(ch, 254)
        H.write_file(m.shm_path(direct), b"direct")
        check(direct in os.listdir(m.mnt), "255-byte name made directly "
              "not listed")
        eq(H.read_file(m.path(direct)), b"direct", "255-byte name made "
           "directly")
        os.rename(m.path(direct), m.path(direct[::-1]))
        made.append(direct[::-1])
    for n in (1024, 1025, 4000):
        nm = "n" * n
        expect_errno(TL, os.stat, m.path(nm), what="stat %d bytes" % n)
        expect_errno(TL, os.open, m.path(nm), os.O_CREAT | os.O_WRONLY, 0o600,
                     what="create %d bytes" % n)
        expect_errno(TL, os.rename, m.path("L"), m.path(nm),
                     what="rename to %d bytes" % n)
    # in a list folder too, as at the top level
    expect_errno(TL, os.stat, m.path("L", "1" * 256),
                 what="lookup of a 256-byte name in a list folder")
    expect_errno(errno.ENOENT, os.stat, m.path("L", "1" * 255),
                 what="lookup of a 255-byte name in a list folder")
    eq(sorted(os.listdir(m.shm)), sorted(made), "names in the shm dir")
    check(m.alive(), "daemon alive")


@H.timeout(60)
def test_planted_entries_never_reached(m):
    """Symlinks (to a file outside the shm dir, to a segment, to a
    directory outside, dangling), a directory, a FIFO, a unix socket and a
    semaphore planted in the shm dir: through the mount none can be
    unlinked, removed, renamed, renamed over, exchanged, linked over,
    created over, changed, or walked through; and neither they nor what
    they point to change."""
    outside = os.path.join(H.base_dir(), H.new_name("outside"))
    H.write_file(outside, b"outside", mode=0o644)
    os.utime(outside, ns=(1_000_000_000_000_000_000,) * 2)
    outdir = os.path.join(H.base_dir(), H.new_name("outdir"))
    os.mkdir(outdir)
    H.write_file(os.path.join(outdir, "inner"), b"inner")
    H.write_file(m.shm_path("seg"), b"segment", mode=0o644)
    H.make_list(m.shm, "L", [5, "five"])
    os.symlink(outside, m.shm_path("ln_out"))
    os.symlink("seg", m.shm_path("ln_seg"))
    os.symlink("nothing-here", m.shm_path("ln_dangling"))
    os.symlink(outdir, m.shm_path("ln_dir"))
    os.mkdir(m.shm_path("dir"))
    H.write_file(m.shm_path("dir", "inner"), b"inner")
    os.mkfifo(m.shm_path("fifo"))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(m.shm_path("sock"))
    H.write_file(m.shm_path("sem.x"), b"\0" * 32)
    H.poll_until(lambda: os.path.isdir(m.path("L")), 2)
    planted = ["ln_out", "ln_seg", "ln_dangling", "ln_dir", "dir", "fifo",
               "sock", "sem.x"]

    def snap():
        return (_snapshot_dir(m.shm), _snapshot_dir(m.shm_path("dir")),
                _snapshot_dir(outdir), sorted(os.listdir(H.base_dir())),
                H.read_file(outside), H.read_file(m.shm_path("seg")),
                H.read_file(m.shm_path("L")))
    before = snap()
    results = collections.defaultdict(list)
    P = m.path

    def attempt(what, fn, *args):
        try:
            r = fn(*args)
            if isinstance(r, int) and what.startswith(("create", "open")):
                os.close(r)
        except OSError as e:
            results[what].append(H.ename(e.errno))
            return e.errno
        raise H.TestFailure("%s succeeded" % what)
    try:
        eq(sorted(os.listdir(m.mnt)), ["L", "seg"], "listing")
        for p in planted:
            t = P(p)
            # the entry itself: it is not there
            for what, fn, args in (
                    ("lstat", os.lstat, (t,)),
                    ("open", os.open, (t, os.O_RDONLY | os.O_NONBLOCK)),
                    ("unlink", os.unlink, (t,)),
                    ("rmdir", os.rmdir, (t,)),
                    ("rename away", os.rename, (t, P("moved"))),
                    ("truncate", os.truncate, (t, 0)),
                    ("chmod", os.chmod, (t, 0o777)),
                    ("chown", os.chown, (t, 65534, 65534)),
                    ("utime", os.utime, (t, (1, 1))),
                    ("setxattr", os.setxattr, (t, "user.x", b"1")),
                    ("getxattr", os.getxattr, (t, "user.shmfs.kind")),
                    ("readlink", os.readlink, (t,))):
                e = attempt(what, fn, *args)
                check(e in (errno.ENOENT, errno.EINVAL) if what == "readlink"
                      else e == errno.ENOENT, "%s of planted %s: %s" % (
                          what, p, H.ename(e)))
            # its name: it is taken, nothing may replace it
            for what, fn, args in (
                    ("rename seg over", os.rename, (P("seg"), t)),
                    ("rename the list over", os.rename, (P("L"), t)),
                    ("rename NOREPLACE over", H.renameat2,
                     (P("seg"), t, H.RENAME_NOREPLACE)),
                    ("rename EXCHANGE", H.renameat2,
                     (P("seg"), t, H.RENAME_EXCHANGE)),
                    ("link over", os.link, (P("seg"), t)),
                    ("create O_TRUNC", os.open,
                     (t, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)),
                    ("create O_RDONLY", os.open,
                     (t, os.O_CREAT | os.O_RDONLY, 0o644)),
                    ("create O_RDWR", os.open,
                     (t, os.O_CREAT | os.O_RDWR, 0o644)),
                    ("create O_EXCL", os.open,
                     (t, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)),
                    ("mkdir", os.mkdir, (t,)),
                    ("symlink", os.symlink, ("seg", t)),
                    ("mknod", os.mknod, (t, stat.S_IFIFO | 0o600))):
                attempt(what, fn, *args)
            # through it: nothing there either
            for what, fn, args in (
                    ("stat through", os.stat, (t + "/inner",)),
                    ("open through", os.open, (t + "/inner", os.O_RDONLY)),
                    ("create through", os.open,
                     (t + "/new", os.O_CREAT | os.O_WRONLY, 0o644)),
                    ("unlink through", os.unlink, (t + "/inner",)),
                    ("rename into", os.rename, (P("seg"), t + "/x"))):
                e = attempt(what, fn, *args)
                check(e in (errno.ENOENT, errno.ENOTDIR), "%s planted %s: %s"
                      % (what, p, H.ename(e)))
            r = H.sh("rm -rf '%s'; echo pwned > '%s'; cat '%s'" % (t, t, t))
            check(r.stdout == b"", "the shell read planted %s: %r" % (
                p, r.stdout))
            results["shell"].append(r.returncode)
    finally:
        sock.close()
    H.note("; ".join("%s: %s" % (k, "/".join(sorted(set(map(str, v)))))
                     for k, v in results.items()))
    after = snap()
    for i, what in enumerate(("the shm dir (every entry's type, inode, mode, "
                              "size, times, link target)",
                              "the planted directory", "the outside "
                              "directory", "the directory around the mount",
                              "the outside file", "seg", "the list")):
        eq(after[i], before[i], what)
    eq(sorted(os.listdir(m.mnt)), ["L", "seg"], "listing afterwards")
    check(m.alive(), "daemon alive")


# ---------------------------------------------------------------------------
# A second user against root's 0600 segment and list

# Every way nobody may try to get at a file P (D: a file of nobody's own,
# in the same directory).  Results are errno names, or "ok".
ATTACK = r'''
import mmap, subprocess

def opn(p, fl):
    os.close(os.open(p, fl))

def mapped(p, fl, prot):
    fd = os.open(p, fl)
    try:
        mmap.mmap(fd, 8, flags=mmap.MAP_SHARED, prot=prot).close()
    finally:
        os.close(fd)

def opath_mmap(p):
    fd = os.open(p, os.O_PATH)
    try:
        mmap.mmap(fd, 8, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ).close()
    finally:
        os.close(fd)

def opath_reopen(p, fl):
    fd = os.open(p, os.O_PATH)
    try:
        os.close(os.open("/proc/self/fd/%d" % fd, fl))
    finally:
        os.close(fd)

def appended(p):
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"pwned")
    finally:
        os.close(fd)

def rc(cmd):
    r = subprocess.run(["sh", "-c", cmd], capture_output=True)
    return "ok" if r.returncode == 0 else "rc=%d" % r.returncode

FILE_OPS = [
    ("open O_RDONLY", lambda P, D: opn(P, os.O_RDONLY)),
    ("open O_WRONLY", lambda P, D: opn(P, os.O_WRONLY)),
    ("open O_RDWR", lambda P, D: opn(P, os.O_RDWR)),
    ("open O_TRUNC", lambda P, D: opn(P, os.O_WRONLY | os.O_TRUNC)),
    ("open O_RDONLY|O_TRUNC", lambda P, D: opn(P, os.O_RDONLY | os.O_TRUNC)),
    ("open O_APPEND", lambda P, D: opn(P, os.O_WRONLY | os.O_APPEND)),
    ("open O_CREAT", lambda P, D: opn(P, os.O_RDWR | os.O_CREAT)),
    ("read", lambda P, D: rd(P)),
    ("write", lambda P, D: wr(P, b"pwned")),
    ("append", lambda P, D: appended(P)),
    ("mmap shared rw", lambda P, D: mapped(P, os.O_RDWR,
                                           mmap.PROT_READ | mmap.PROT_WRITE)),
    ("mmap read", lambda P, D: mapped(P, os.O_RDONLY, mmap.PROT_READ)),
    ("O_PATH reopen O_RDWR", lambda P, D: opath_reopen(P, os.O_RDWR)),
    ("O_PATH reopen O_RDONLY", lambda P, D: opath_reopen(P, os.O_RDONLY)),
    ("truncate", lambda P, D: os.truncate(P, 0)),
    ("truncate grow", lambda P, D: os.truncate(P, 1 << 20)),
    ("chmod", lambda P, D: os.chmod(P, 0o666)),
    ("chown", lambda P, D: os.chown(P, 65534, 65534)),
    ("chgrp", lambda P, D: os.chown(P, -1, 65534)),
    ("utime set", lambda P, D: os.utime(P, (1, 1))),
    ("utime now", lambda P, D: os.utime(P)),
    ("rename to new", lambda P, D: os.rename(P, P + ".moved")),
    ("rename over own", lambda P, D: os.rename(P, D)),
    ("rename own over", lambda P, D: os.rename(D, P)),
    ("unlink", lambda P, D: os.unlink(P)),
]
# Refused whoever asks (no fd to map, computed attributes): not in the
# control, but nobody must get no further.
FILE_ALWAYS_REFUSED = [
    ("O_PATH mmap", lambda P, D: opath_mmap(P)),
    ("setxattr user", lambda P, D: os.setxattr(P, "user.pwn", b"1")),
    ("setxattr trusted", lambda P, D: os.setxattr(P, "trusted.pwn", b"1")),
    ("removexattr", lambda P, D: os.removexattr(P, "user.shmfs.kind")),
    ("link", lambda P, D: os.link(P, P + ".link")),
]
DIR_OPS = [
    ("listdir", lambda P, D: os.listdir(P)),
    ("stat element", lambda P, D: os.stat(P + "/0")),
    ("chmod", lambda P, D: os.chmod(P, 0o777)),
    ("chown", lambda P, D: os.chown(P, 65534, 65534)),
    ("utime set", lambda P, D: os.utime(P, (1, 1))),
    ("utime now", lambda P, D: os.utime(P)),
    ("rename to new", lambda P, D: os.rename(P, P + ".moved")),
    ("rmdir", lambda P, D: os.rmdir(P)),
    ("echo 1 > DIR/0", lambda P, D: rc("echo 1 > '%s/0'" % P)),
    ("rm -r DIR", lambda P, D: rc("rm -r '%s'" % P)),
    ("rm -rf DIR", lambda P, D: rc("rm -rf '%s'" % P)),
    ("rmdir(1) DIR", lambda P, D: rc("rmdir '%s'" % P)),
]
DIR_ALWAYS_REFUSED = [
    ("unlink", lambda P, D: os.unlink(P)),
    ("rename own over", lambda P, D: os.rename(D, P)),
    ("rename over own", lambda P, D: os.rename(P, D)),
    ("mkdir inside", lambda P, D: os.mkdir(P + "/x")),
    ("create inside", lambda P, D: os.close(os.open(P + "/9", os.O_CREAT |
                                                    os.O_WRONLY, 0o600))),
    ("setxattr", lambda P, D: os.setxattr(P, "user.pwn", b"1")),
]

# What needs no more than read access (tried on the 0644 list only as a
# check that it is readable).
READS = {"open O_RDONLY", "read", "mmap read", "O_PATH reopen O_RDONLY",
         "O_PATH mmap", "listdir", "stat element"}

def attack(ops, targets, tag):
    for name, fn in ops:
        P, D = targets(name)
        try:
            r = fn(P, D)
        except OSError as e:
            r = errno.errorcode.get(e.errno, str(e.errno))
        except ValueError as e:      # mmap of a file cut short meanwhile
            r = "ValueError: %s" % e
        R[tag + name] = r if isinstance(r, str) else "ok"
'''

def _state_of(paths, shm):
    out = {}
    for p in paths:
        st = os.stat(p)
        out[p] = (H.read_file(p), st.st_size, st.st_mode, st.st_uid,
                  st.st_gid, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    out["listing"] = sorted(os.listdir(shm))
    return out


@H.timeout(60)
@H.mount_with(allow_other=True)
def test_nobody_cannot_touch_root_0600_segment_or_list(m):
    """nobody against root's 0600 segment and 0600 list (folder, elements,
    .raw) in a 1777 shm dir, mounted with allow_other: every attempt is
    refused and nothing changes.  The 0600 folder is not even searchable
    by nobody, so a 0644 list is attacked too (folder searchable, elements
    readable): there the write side of each element file and of .raw must
    refuse on its own."""
    os.chmod(m.shm, 0o1777)
    data = bytes(range(256)) * 16
    H.write_file(m.shm_path("secret"), data, mode=0o600)
    H.make_list(m.shm, "slist", [7, "secret!", 2.5], mode=0o600)
    H.make_list(m.shm, "rlist", [8, "public", 3.5], mode=0o644)
    H.write_file(m.shm_path("decoy"), b"nobody's", mode=0o600)
    os.chown(m.shm_path("decoy"), H.NOBODY_UID, H.NOBODY_GID)
    for n in ("slist", "rlist"):
        ok, _ = H.poll_until(lambda: os.path.isdir(m.path(n)), 2)
        check(ok, "%s is a folder" % n)
    # old times, so that any change to them shows
    for n in ("secret", "slist", "rlist"):
        os.utime(m.shm_path(n), ns=(1_500_000_000_000_000_000,) * 2)
    real = [m.shm_path(n) for n in ("secret", "slist", "rlist", "decoy")]
    before = _state_of(real, m.shm)
    time.sleep(0.01)          # a change now would give another ctime

    # -- the attack
    res = H.as_nobody(ATTACK + r'''
S, L, RL, D = %r, %r, %r, %r
attack(FILE_OPS + FILE_ALWAYS_REFUSED, lambda op: (S, D), "seg ")
for f in ("/0", "/1", "/.raw"):
    attack(FILE_OPS + FILE_ALWAYS_REFUSED, lambda op: (L + f, D), "list" + f +
           " ")
attack(DIR_OPS + DIR_ALWAYS_REFUSED, lambda op: (L, D), "list dir ")
for f in ("/0", "/1", "/.raw"):
    attack([o for o in FILE_OPS + FILE_ALWAYS_REFUSED if o[0] not in READS],
           lambda op: (RL + f, D), "0644 list" + f + " ")
attack([o for o in DIR_OPS + DIR_ALWAYS_REFUSED if o[0] not in READS],
       lambda op: (RL, D), "0644 list dir ")
READABLE = {"0644 list/0 read": t(rd, RL + "/0"),
            "0644 list/.raw read": t(rd, RL + "/.raw"),
            "0644 list dir listdir": t(os.listdir, RL)}
''' % (m.path("secret"), m.path("slist"), m.path("rlist"),
       m.path("decoy")) + "\nR['readable'] = READABLE\n", timeout=120)
    readable = res.pop("readable")
    wrong = {k: v for k, v in res.items()
             if not (v in DENIED or v.startswith("rc=") or
                     (v == "EBADF" and "O_PATH mmap" in k))}
    H.note("nobody's %d attempts: %s" % (len(res), ", ".join(
        "%s %d" % kv for kv in
        sorted(collections.Counter(res.values()).items()))))
    eq(wrong, {}, "attempts by nobody not refused with EACCES/EPERM")
    eq(readable, {k: "ok" for k in readable}, "nobody reads the 0644 list")
    after = _state_of(real, m.shm)
    for p in real:
        what = ("bytes", "size", "mode", "uid", "gid", "mtime", "ctime",
                "inode")
        for i, w in enumerate(what):
            eq(after[p][i], before[p][i], "%s: %s" % (os.path.basename(p), w))
    eq(after["listing"], before["listing"], "the shm dir's listing")
    for n, text in (("slist", b"secret!\n"), ("rlist", b"public\n")):
        check(os.path.isdir(m.path(n)), n + " still a folder")
        eq(H.read_file(m.path(n, "1")), text, n + " element 1")

    # -- the control: the same code, each operation on its own copy that
    # nobody owns, must succeed
    seg_ops = _ops_names("FILE_OPS")
    dir_ops = _ops_names("DIR_OPS")
    targets = {}
    for op in seg_ops:
        for f in ("seg", "raw"):
            base = "own_%s_%d" % (f, len(targets))
            if f == "seg":
                H.write_file(m.shm_path(base), data, mode=0o600)
                targets["seg " + op] = (m.path(base), base)
            else:
                H.make_list(m.shm, base, [7, "secret!"], mode=0o600)
                targets["raw " + op] = (m.path(base, ".raw"), base)
    for op in dir_ops:
        base = "own_dir_%d" % len(targets)
        H.make_list(m.shm, base, [7, "secret!"], mode=0o600)
        targets["dir " + op] = (m.path(base), base)
    for key, (p, base) in list(targets.items()):
        os.chown(m.shm_path(base), H.NOBODY_UID, H.NOBODY_GID)
        H.write_file(m.shm_path(base + ".d"), b"decoy", mode=0o600)
        os.chown(m.shm_path(base + ".d"), H.NOBODY_UID, H.NOBODY_GID)
        targets[key] = (p, m.path(base + ".d"))
    for key, (p, _) in targets.items():
        if not key.startswith("seg"):
            folder = os.path.dirname(p) if key.startswith("raw") else p
            ok, _ = H.poll_until(lambda: os.path.isdir(folder), 2)
            check(ok, "%s not a folder" % folder)
    own = H.as_nobody(ATTACK + r'''
T = %r
attack(FILE_OPS, lambda op: tuple(T["seg " + op]), "seg ")
attack(FILE_OPS, lambda op: tuple(T["raw " + op]), "raw ")
attack(DIR_OPS, lambda op: tuple(T["dir " + op]), "dir ")
''' % targets, timeout=120)
    # .raw is the segment: the kernel refuses unlinking or renaming it
    # away from its folder (a list has no other files) - not a permission
    # matter, so not part of the control
    raw_not_ok = {"raw rename to new", "raw rename over own",
                  "raw rename own over", "raw unlink"}
    refused = {k: v for k, v in own.items() if v != "ok" and
               k not in raw_not_ok}
    eq(refused, {}, "control: nobody on its own copies")
    H.note("control: %d operations succeeded on nobody's own copies" %
           sum(v == "ok" for v in own.values()))
    check(m.alive(), "daemon alive")


def _ops_names(var):
    ns = {"R": {}, "os": os, "t": None, "rd": None, "wr": None}
    exec(ATTACK, ns)
    return [n for n, _ in ns[var]]


if __name__ == "__main__":
    H.run(globals())
