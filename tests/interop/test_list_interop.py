#!/usr/bin/python3
"""test_list_interop.py - one ShareableList, two implementations.

CPython's multiprocessing.shared_memory.ShareableList and libshmseg (driven
through tests/interop/shmseg_tool) must read each other's lists, write the
same bytes, follow the same __setitem__ rules, and the C checker must accept
every list CPython writes and never crash on damaged ones.

    test_list_interop.py TOOL        (run with /usr/bin/python3)

The random seed is printed; SHMFS_SEED=<n> repeats a run.  Segments are named
shmfs_test_<pid>_<k> in /dev/shm and are all removed at exit, even when a
check fails or the script itself breaks halfway.
"""
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import traceback

import _posixshmem
from multiprocessing import resource_tracker, shared_memory
from multiprocessing.shared_memory import ShareableList

TOOL = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
NS = "/dev/shm"
PREFIX = "shmfs_test_%d_" % os.getpid()

EXIT_OK, EXIT_INVALID, EXIT_LIBERR, EXIT_SETERR, EXIT_USAGE = 0, 1, 2, 3, 4
MAX_SLOT = 9999992  # SHMSEG_LIST_MAX_SLOT

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1

# ---------------------------------------------------------------------------
# Bookkeeping


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.printed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
            return True
        self.failed += 1
        if self.printed < 300:
            print("FAIL: " + what, flush=True)
        elif self.printed == 300:
            print("FAIL: ... (further failures counted, not printed)",
                  flush=True)
        self.printed += 1
        return False


R = Results()
STATS = {}  # what the random run covered, printed at the end


def tally(what, n=1):
    STATS[what] = STATS.get(what, 0) + n


_counter = 0
_open_lists = []  # ShareableLists to close at exit
_names = set()    # every name handed out, unlinked at exit


def new_name():
    global _counter
    _counter += 1
    name = PREFIX + str(_counter)
    _names.add(name)
    return name


def _untrack(sl):
    # Python 3.11 registers every SharedMemory it creates *or attaches* with
    # the resource tracker, which would unlink it (and warn) at exit.  The
    # test owns the segments' lifetime: take them away from the tracker, and
    # unlink with _posixshmem directly (never SharedMemory.unlink(), which
    # would unregister a second time).
    resource_tracker.unregister(sl.shm._name, "shared_memory")
    _open_lists.append(sl)
    return sl


def py_create(values, name):
    return _untrack(ShareableList(values, name=name))


def py_attach(name):
    return _untrack(ShareableList(name=name))


def py_close(sl):
    if sl in _open_lists:
        _open_lists.remove(sl)
    sl.shm.close()


def unlink(name):
    try:
        _posixshmem.shm_unlink("/" + name)
    except FileNotFoundError:
        pass


def segment_exists(name):
    return os.path.lexists(os.path.join(NS, name))


def leftovers():
    return sorted(e for e in os.listdir(NS) if e.startswith(PREFIX))


def cleanup():
    for sl in list(_open_lists):
        try:
            py_close(sl)
        except Exception as e:  # a buffer still exported: report, go on
            print("cleanup: closing %s: %r" % (sl.shm.name, e))
    for name in sorted(_names):
        unlink(name)
    for name in leftovers():
        try:
            os.unlink(os.path.join(NS, name))
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------------------
# Running the C tool

_env = dict(os.environ)
# Make any sanitizer report fatal and visible as a signal, so it can never be
# mistaken for `check`'s "invalid" status 1.
_env["ASAN_OPTIONS"] = (_env.get("ASAN_OPTIONS", "") +
                        ":abort_on_error=1:halt_on_error=1").lstrip(":")
_env["UBSAN_OPTIONS"] = (_env.get("UBSAN_OPTIONS", "") +
                         ":abort_on_error=1:halt_on_error=1"
                         ":print_stacktrace=1").lstrip(":")

SANITIZER_MARKS = (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:",
                   b"UndefinedBehaviorSanitizer")


def tool(args, stdin=b"", allowed=(EXIT_OK,)):
    """Run the tool; a crash, a sanitizer report or an exit status outside
    @allowed is a failure (returned as None)."""
    what = "shmseg_tool " + " ".join(args)
    try:
        p = subprocess.run([TOOL] + args, input=stdin, capture_output=True,
                           env=_env, timeout=120)
    except subprocess.TimeoutExpired:
        R.check(False, what + ": timed out")
        return None
    bad = [m for m in SANITIZER_MARKS if m in p.stderr]
    err = p.stderr.decode(errors="replace")
    if not R.check(p.returncode >= 0 and not bad and
                   p.returncode in allowed,
                   "%s: exit %d (allowed %s)%s: %s" % (
                       what, p.returncode, list(allowed),
                       " sanitizer report" if bad else "",
                       err[:2000] if bad else err[-2000:])):
        return None
    return p


def err_name_of(p):
    """The [ENAME] that the tool prints on stderr, or None."""
    text = p.stderr.decode(errors="replace")
    start = text.rfind("[")
    end = text.rfind("]")
    return text[start + 1:end] if 0 <= start < end else None


# ---------------------------------------------------------------------------
# Values.  A spec is (kind, payload): ("int", n), ("float", bits),
# ("bool", b), ("none", None), ("str", utf8 bytes), ("bytes", bytes).


def f2bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def bits2f(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def to_py(spec):
    kind, v = spec
    if kind == "float":
        return bits2f(v)
    if kind == "str":
        return v.decode("utf-8")
    return v


def from_py(v):
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", f2bits(v))
    if v is None:
        return ("none", None)
    if isinstance(v, str):
        return ("str", v.encode("utf-8"))
    if isinstance(v, bytes):
        return ("bytes", v)
    raise TypeError(type(v))


def spec_line(spec):
    kind, v = spec
    if kind == "int":
        return "int %d" % v
    if kind == "float":
        return "float %016x" % v
    if kind == "bool":
        return "bool %d" % int(v)
    if kind == "none":
        return "none"
    return "%s %s" % (kind, v.hex())


def parse_line(line):
    kind, _, arg = line.partition(" ")
    if kind == "int":
        return ("int", int(arg))
    if kind == "float":
        return ("float", int(arg, 16))
    if kind == "bool":
        return ("bool", arg == "1")
    if kind == "none":
        return ("none", None)
    if kind in ("str", "bytes"):
        return (kind, bytes.fromhex(arg))
    if kind == "error":
        return ("error", arg)
    raise ValueError("bad dump line %r" % line)


def specs_input(specs):
    return "".join(spec_line(s) + "\n" for s in specs).encode()


def as_read(spec):
    """What reading a stored value gives back: trailing NULs stripped."""
    kind, v = spec
    if kind in ("str", "bytes"):
        return (kind, v.rstrip(b"\0"))
    return spec


def is_ascii(specs):
    return all(k != "str" or v.isascii() for k, v in specs)


def show(spec):
    kind, v = spec
    if kind in ("str", "bytes") and len(v) > 40:
        return "(%s, %r...+%d)" % (kind, v[:40], len(v) - 40)
    return repr(spec)


def expected_text(spec):
    kind, v = spec
    if kind == "int":
        return b"%d\n" % v
    if kind == "float":
        return repr(bits2f(v)).encode() + b"\n"
    if kind == "bool":
        return b"True\n" if v else b"False\n"
    if kind == "none":
        return b"None\n"
    if kind == "str":
        return v + b"\n"
    return v


# ---------------------------------------------------------------------------
# Random values

INT_EDGES = [0, 1, -1, 7, -8, 255, 256, 2 ** 31 - 1, -(2 ** 31), 2 ** 32,
             2 ** 53 + 1, 2 ** 62, -(2 ** 62), INT64_MAX, INT64_MIN,
             INT64_MAX - 1, INT64_MIN + 1]

FLOAT_EDGE_BITS = [
    0x0000000000000000, 0x8000000000000000,  # 0.0, -0.0
    0x7FF0000000000000, 0xFFF0000000000000,  # inf, -inf
    0x7FF8000000000000, 0xFFF8000000000000,  # nan, -nan
    0x7FF0000000000001, 0x7FF4000000000000,  # signalling nans
    0x7FFFFFFFFFFFFFFF, 0xFFF8000000000123,  # nan payloads
    0x0000000000000001, 0x800FFFFFFFFFFFFF,  # subnormals
    0x0010000000000000, 0x7FEFFFFFFFFFFFFF,  # min normal, max
    f2bits(0.1), f2bits(1e16), f2bits(9999999999999998.0), f2bits(1e-4),
    f2bits(0.0001 * 0.9999999999), f2bits(1.5), f2bits(-2.5e-308),
    f2bits(2.2250738585072014e-308), f2bits(123456789.0), f2bits(1e22),
    f2bits(5e-324), f2bits(1.7976931348623157e308),
]

LEN_EDGES = [0, 1, 6, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 63, 64,
             65, 127, 128, 129]

NON_ASCII_RANGES = [(0x80, 0xFF), (0x100, 0x17F), (0x370, 0x3FF),
                    (0x400, 0x4FF), (0x800, 0xFFF), (0x4E00, 0x9FFF),
                    (0xE000, 0xF8FF), (0xFFF0, 0xFFFD), (0x10000, 0x1FFFF),
                    (0x1F600, 0x1F64F), (0x10FF00, 0x10FFFF)]


def rand_int(r):
    c = r.random()
    if c < 0.3:
        return r.choice(INT_EDGES)
    if c < 0.6:
        return r.randint(-1000, 1000)
    return r.randint(INT64_MIN, INT64_MAX)


def rand_float_bits(r):
    c = r.random()
    if c < 0.3:
        return r.choice(FLOAT_EDGE_BITS)
    if c < 0.55:
        return r.getrandbits(64)
    if c < 0.65:  # subnormal
        return (r.getrandbits(1) << 63) | r.getrandbits(52)
    if c < 0.8:
        return f2bits(r.uniform(-1e6, 1e6))
    return f2bits(r.choice([1, -1]) * 10.0 ** r.uniform(-20, 25))


def rand_len(r):
    c = r.random()
    if c < 0.6:
        return r.choice(LEN_EDGES)
    if c < 0.95:
        return r.randint(0, 100)
    return r.randint(100, 5000)


def rand_ascii(r, n):
    # Printable text plus control characters; NUL only inside, not at the
    # end (unless asked for below), since a read strips trailing NULs.
    alphabet = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\n\t\r\x01\x7f")
    s = "".join(r.choice(alphabet) for _ in range(n))
    if n > 2 and r.random() < 0.1:
        i = r.randrange(0, n - 1)
        s = s[:i] + "\0" + s[i + 1:]
    return s


def rand_unicode(r, n):
    chars = []
    for _ in range(n):
        if r.random() < 0.3:
            chars.append(chr(r.randint(0x20, 0x7E)))
        else:
            lo, hi = r.choice(NON_ASCII_RANGES)
            chars.append(chr(r.randint(lo, hi)))
    s = "".join(chars)
    if s.isascii():
        s = s[:-1] + "\u00e9" if s else "\u00e9"
    return s


def rand_bytes(r, n):
    b = bytearray(r.getrandbits(8) for _ in range(n))
    for _ in range(r.randint(0, 3)):
        if n:
            b[r.randrange(n)] = 0
    if n and b[-1] == 0:
        b[-1] = r.randint(1, 255)
    return bytes(b)


def rand_spec(r, ascii_only=False, trailing_nul=True):
    c = r.random()
    if c < 0.17:
        return ("int", rand_int(r))
    if c < 0.34:
        return ("float", rand_float_bits(r))
    if c < 0.42:
        return ("bool", r.random() < 0.5)
    if c < 0.48:
        return ("none", None)
    if c < 0.78 or ascii_only:
        if c >= 0.9:
            spec = ("bytes", rand_bytes(r, rand_len(r)))
        else:
            spec = ("str", rand_ascii(r, rand_len(r)).encode())
    elif c < 0.9:
        spec = ("str", rand_unicode(r, r.choice([1, 2, 3, 5, 7, 8, 9, 16,
                                                  r.randint(1, 60)]))
                .encode("utf-8"))
    else:
        spec = ("bytes", rand_bytes(r, rand_len(r)))
    if trailing_nul and r.random() < 0.04:
        spec = (spec[0], spec[1] + b"\0" * r.randint(1, 9))
    return spec


def rand_specs(r, ascii_only=False, trailing_nul=True):
    n = r.choice([0, 1, 2, 3, 5, 8, r.randint(1, 20), r.randint(1, 20),
                  r.randint(20, 120)])
    return [rand_spec(r, ascii_only, trailing_nul) for _ in range(n)]


# ---------------------------------------------------------------------------
# A reference of the layout, written from CPython's documented format (and
# checked below against the bytes CPython itself writes): slots sized by the
# UTF-8 length, as fixed CPython versions do.

FMT_FIXED = {"int": b"q", "float": b"d", "bool": b"xxxxxxx?",
             "none": b"xxxxxx?x"}
CODES = {"int": 0, "float": 0, "bool": 0, "str": 1, "bytes": 2, "none": 3}


def ref_layout(specs):
    data, fmts, offs = [], [], [0]
    for kind, v in specs:
        if kind in ("str", "bytes"):
            slot = 8 * (len(v) // 8 + 1)
            data.append(v.ljust(slot, b"\0"))
            fmts.append(b"%ds" % slot)
        else:
            if kind == "int":
                data.append(struct.pack("=q", v))
            elif kind == "float":
                data.append(struct.pack("=Q", v))
            elif kind == "bool":
                data.append(b"\0" * 7 + bytes([int(v)]))
            else:
                data.append(b"\0" * 8)
            fmts.append(FMT_FIXED[kind])
        offs.append(offs[-1] + len(data[-1]))
    n = len(specs)
    return (struct.pack("=q", n) + struct.pack("=%dq" % (n + 1), *offs) +
            b"".join(data) + b"".join(f.ljust(8, b"\0") for f in fmts) +
            bytes(CODES[k] for k, _ in specs))


def ref_slots(raw):
    """Slot sizes of a valid list image."""
    n = struct.unpack_from("=q", raw, 0)[0]
    offs = struct.unpack_from("=%dq" % (n + 1), raw, 8)
    return [offs[i + 1] - offs[i] for i in range(n)]


def ref_check(b):
    """The ShareableList validity rules of lib/shmseg.h, independently:
    returns N, or None for "not a list"."""
    size = len(b)
    if size < 16:
        return None
    n = struct.unpack_from("=q", b, 0)[0]
    if n < 0 or 16 + 25 * n > size:
        return None
    dsize = size - 16 - 17 * n
    offs = struct.unpack_from("=%dq" % (n + 1), b, 8)
    if offs[0] != 0 or offs[n] != dsize:
        return None
    fstart = 8 * (n + 2) + dsize
    for i in range(n):
        slot = offs[i + 1] - offs[i]
        if slot <= 0 or slot % 8:
            return None
        fmt = b[fstart + 8 * i:fstart + 8 * i + 8]
        code = b[fstart + 8 * n + i]
        fixed = {b"q": 0, b"d": 0, b"xxxxxxx?": 0, b"xxxxxx?x": 3}
        body = fmt.rstrip(b"\0")
        if body in fixed:
            if code != fixed[body]:
                return None
            continue
        if (len(body) < 2 or not body.endswith(b"s") or
                not body[:-1].isdigit() or body[:1] == b"0" or
                int(body[:-1]) != slot or code not in (1, 2)):
            return None
    return n


# ---------------------------------------------------------------------------
# C views of a list


def c_dump(name, expect_status=(EXIT_OK,)):
    p = tool([NS, "dump", name], allowed=expect_status)
    if p is None:
        return None
    return [parse_line(l) for l in p.stdout.decode().splitlines()]


def c_check_file(path):
    p = tool(["check", path], allowed=(EXIT_OK, EXIT_INVALID))
    if p is None:
        return "crash"
    out = p.stdout.decode().strip()
    if p.returncode == EXIT_OK and out.startswith("valid "):
        return int(out.split()[1])
    if p.returncode == EXIT_INVALID and out == "invalid":
        return None
    R.check(False, "check %s: exit %d with output %r" % (path, p.returncode,
                                                          out))
    return "crash"


def compare_lists(what, got, want):
    if not R.check(got is not None and len(got) == len(want),
                   "%s: %s elements, expected %d" % (
                       what, "no" if got is None else len(got), len(want))):
        return
    for i, (g, w) in enumerate(zip(got, want)):
        R.check(g == w, "%s[%d]: got %s, expected %s" % (what, i, show(g),
                                                         show(w)))


def py_read(sl):
    """Every element of @sl as specs, ("error", exc name) where it fails."""
    out = []
    for i in range(len(sl)):
        try:
            out.append(from_py(sl[i]))
        except Exception as e:
            out.append(("error", type(e).__name__))
    return out


def compare_text(name, i, spec):
    tally("e: element texts")
    ok = spec[0] != "str" or _decodes(spec[1])
    p = tool([NS, "text", name, str(i)],
             allowed=(EXIT_OK,) if ok else (EXIT_LIBERR,))
    if p is None:
        return
    if ok:
        R.check(p.stdout == expected_text(spec),
                "text %s[%d] of %s: %r, expected %r" % (
                    name, i, show(spec), p.stdout[:80],
                    expected_text(spec)[:80]))
    else:
        R.check(err_name_of(p) == "EILSEQ",
                "text %s[%d]: error %s, expected EILSEQ" % (
                    name, i, err_name_of(p)))


def _decodes(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# ---------------------------------------------------------------------------
# d) damaged copies


def corruptions(r, raw):
    """(description, bytes, expectation) for damaged copies of a list CPython
    wrote fresh (every number in an 8-byte slot).  Expectation: "invalid",
    "valid", or None (any verdict, but it must agree with ref_check)."""
    n = struct.unpack_from("=q", raw, 0)[0]
    data_start = 8 * (n + 2)
    fmt_start = len(raw) - 9 * n
    out = []

    def flip(pos, bit):
        b = bytearray(raw)
        b[pos] ^= 1 << bit
        return bytes(b)

    # One bit flipped in the header: N, an offset, a format or a code.  In a
    # fresh list no single flip there gives another valid list: a new N moves
    # where offsets[N] must be and what it must hold; a moved offset takes
    # bytes from one neighbour and gives them to the other, and a number's
    # 8-byte slot cannot shrink while a str slot must match its format; a
    # flipped format byte or code never makes a format/code pair that fits.
    for _ in range(3):
        pos = r.randrange(0, data_start)  # N or offsets
        out.append(("bit flip in N/offsets at %d" % pos,
                    flip(pos, r.randrange(8)), "invalid"))
    if n:
        pos = r.randrange(fmt_start, len(raw))  # formats or codes
        out.append(("bit flip in formats/codes at %d" % pos,
                    flip(pos, r.randrange(8)), "invalid"))
    # An inner offset moved off the 8-byte grid.
    if n >= 2:
        i = r.randint(1, n - 1)
        delta = r.choice([-7, -4, -1, 1, 3, 7])
        b = bytearray(raw)
        struct.pack_into("=q", b, 8 + 8 * i,
                         struct.unpack_from("=q", raw, 8 + 8 * i)[0] + delta)
        out.append(("offset %d moved by %d" % (i, delta), bytes(b),
                    "invalid"))
    # The data area is not judged.
    if fmt_start > data_start:
        pos = r.randrange(data_start, fmt_start)
        out.append(("bit flip in data at %d" % pos,
                    flip(pos, r.randrange(8)), "valid"))
    # Any byte replaced anywhere: any verdict, as long as it is the right
    # one by the rules.
    for _ in range(2):
        b = bytearray(raw)
        pos = r.randrange(len(b))
        b[pos] = r.randrange(256)
        out.append(("byte %d set to %d" % (pos, b[pos]), bytes(b), None))
    if n:
        b = bytearray(raw)
        i = r.randrange(n)
        b[fmt_start + 8 * i:fmt_start + 8 * i + 8] = r.choice(
            [b"q", b"d", b"xxxxxxx?", b"xxxxxx?x", b"8s", b"16s",
             b"%ds" % r.choice(ref_slots(raw))]).ljust(8, b"\0")
        b[fmt_start + 8 * n + i] = r.randrange(5)
        out.append(("format/code %d replaced" % i, bytes(b), None))
    # Truncated or extended: the size no longer matches.
    cut = r.randint(1, len(raw))
    out.append(("truncated by %d" % cut, raw[:-cut], "invalid"))
    ext = r.randint(1, 40)
    out.append(("extended by %d" % ext,
                raw + r.choice([b"\0" * ext, bytes(r.getrandbits(8)
                                                   for _ in range(ext))]),
                "invalid"))
    return out


def check_bytes(tmpdir, what, blob, expect):
    path = os.path.join(tmpdir, "img")
    with open(path, "wb") as f:
        f.write(blob)
    got = c_check_file(path)
    if got == "crash":
        return
    ref = ref_check(blob)
    tally("d: damaged images judged %s" % ("valid" if ref is not None
                                         else "invalid"))
    R.check(got == ref, "%s: check says %s, the layout rules say %s" % (
        what, "valid %d" % got if got is not None else "invalid",
        "valid %d" % ref if ref is not None else "invalid"))
    if expect == "invalid":
        R.check(got is None, "%s: check says valid, must be invalid" % what)
    elif expect == "valid":
        R.check(got is not None, "%s: check says invalid, must be valid"
                % what)


# ---------------------------------------------------------------------------
# The tests


def test_python_writes(r, tmpdir, count=300, text_lists=60, damage_lists=120):
    """a) CPython creates, C reads (dump, format, text, check)."""
    for k in range(count):
        specs = rand_specs(r)
        name = new_name()
        sl = py_create([to_py(s) for s in specs], name)
        raw = bytes(sl.shm.buf)
        slots = ref_slots(raw)
        # What was stored: CPython 3.11 sizes a str slot by code points and
        # cuts longer UTF-8 (gh-88336); a read then strips trailing NULs.
        want = []
        for s, slot in zip(specs, slots):
            kind, v = s
            if kind in ("str", "bytes"):
                v = v[:slot].rstrip(b"\0")
                if kind == "str" and not _decodes(v):
                    tally("a: str cut by CPython 3.11 into invalid UTF-8")
                    want.append(("error", "EILSEQ"))
                    continue
            want.append((kind, v))
        if is_ascii(specs):
            R.check(raw == ref_layout(specs),
                    "a) %s: CPython's bytes differ from the reference layout"
                    % name)
        got = check_file_of(name)
        R.check(got == len(specs), "a) check %s: %r, expected valid %d" % (
            name, got, len(specs)))
        bad = any(w[0] == "error" for w in want)
        compare_lists("a) dump " + name,
                      c_dump(name, (EXIT_LIBERR,) if bad else (EXIT_OK,)),
                      want)
        # CPython's own read agrees with the expectation too.
        pwant = [("error", "UnicodeDecodeError") if w[0] == "error" else w
                 for w in want]
        compare_lists("a) python read " + name, py_read(sl), pwant)
        p = tool([NS, "format", name])
        if p is not None:
            R.check(p.stdout.decode() == sl.format + "\n",
                    "a) format %s: %r, CPython says %r" % (
                        name, p.stdout[:200], sl.format[:200]))
        if k < text_lists:
            for i, s in enumerate(specs):
                kind, v = s
                if kind in ("str", "bytes"):
                    v = v[:slots[i]].rstrip(b"\0")
                compare_text(name, i, (kind, v))
        if k < damage_lists:
            for what, blob, expect in corruptions(r, raw):
                check_bytes(tmpdir, "d) %s (%s)" % (name, what), blob,
                            expect)
        py_close(sl)
        unlink(name)


def check_file_of(name):
    return c_check_file(os.path.join(NS, name))


def test_c_writes(r, count=150):
    """b) C creates, CPython reads; for ASCII the bytes equal CPython's."""
    cases = [rand_specs(r) for _ in range(count)]
    cases += [[], [("str", b"")], [("bytes", b"")],
              [("str", b"x" * (MAX_SLOT - 1)), ("int", 1)],
              [("bytes", b"\xff" * (MAX_SLOT - 1))]]
    for specs in cases:
        name = new_name()
        if tool([NS, "create", name], specs_input(specs)) is None:
            unlink(name)
            continue
        sl = py_attach(name)
        raw = bytes(sl.shm.buf)
        R.check(raw == ref_layout(specs),
                "b) %s: C's bytes differ from the reference layout" % name)
        compare_lists("b) python read " + name, py_read(sl),
                      [as_read(s) for s in specs])
        compare_lists("b) dump " + name, c_dump(name),
                      [as_read(s) for s in specs])
        R.check(check_file_of(name) == len(specs),
                "b) check %s: not valid %d" % (name, len(specs)))
        tally("b: C-created lists, %s" % ("ASCII" if is_ascii(specs)
                                           else "non-ASCII str"))
        if is_ascii(specs):
            twin = new_name()
            tsl = py_create([to_py(s) for s in specs], twin)
            R.check(bytes(tsl.shm.buf) == raw,
                    "b) %s: C's bytes differ from CPython's for %s" % (
                        name, [show(s) for s in specs][:10]))
            R.check(tsl.format == sl.format, "b) %s: format %r vs %r" % (
                name, sl.format[:100], tsl.format[:100]))
            py_close(tsl)
            unlink(twin)
        py_close(sl)
        if tool([NS, "unlink", name]) is not None:
            R.check(not segment_exists(name),
                    "b) %s still exists after unlink" % name)
        unlink(name)

    # Values that cannot be stored: nothing may be left behind.
    for what, specs, err in [
            ("str of MAX_SLOT bytes", [("str", b"y" * MAX_SLOT)], "EFBIG"),
            ("bytes of MAX_SLOT bytes", [("int", 3),
                                         ("bytes", b"\1" * MAX_SLOT)],
             "EFBIG"),
            ("invalid UTF-8 str", [("str", b"ab\xc3")], "EINVAL"),
            ("surrogate in str", [("str", b"\xed\xa0\x80")], "EINVAL")]:
        name = new_name()
        p = tool([NS, "create", name], specs_input(specs),
                 allowed=(EXIT_LIBERR,))
        if p is not None:
            R.check(err_name_of(p) == err, "b) create with %s: %s, "
                    "expected %s" % (what, err_name_of(p), err))
        R.check(not segment_exists(name),
                "b) create with %s left %s behind" % (what, name))
        unlink(name)


def rand_set_value(r, slot):
    """A value to store in a slot of @slot bytes: str/bytes sometimes too
    long for it."""
    c = r.random()
    if c < 0.5:
        return rand_spec(r, trailing_nul=False) if c < 0.25 else \
            r.choice([("int", rand_int(r)), ("float", rand_float_bits(r)),
                      ("bool", r.random() < 0.5), ("none", None)])
    n = r.choice([0, 1, slot - 1, slot, slot + 1, r.randint(0, slot + 8)])
    n = max(n, 0)
    if c < 0.7:
        return ("str", rand_ascii(r, n).rstrip("\0").encode())
    if c < 0.85:
        b = rand_unicode(r, max(1, n // 3)).encode()
        return ("str", b)
    return ("bytes", rand_bytes(r, n))


def test_setitem(r, lists=30, steps=25):
    """c) one list, written from both sides in turn."""
    for k in range(lists):
        specs = rand_specs(r, ascii_only=True, trailing_nul=False)[:12] or \
            [("int", 0)]
        name = new_name()
        if k % 2 == 0:
            if tool([NS, "create", name], specs_input(specs)) is None:
                unlink(name)
                continue
            sl = py_attach(name)
        else:
            sl = py_create([to_py(s) for s in specs], name)
        # A CPython-only shadow of the same list, for the exact bytes.
        shadow_name = new_name()
        shadow = py_create([to_py(s) for s in specs], shadow_name)
        R.check(bytes(sl.shm.buf) == bytes(shadow.shm.buf),
                "c) %s: starting bytes differ from CPython's" % name)
        slots = ref_slots(bytes(sl.shm.buf))
        model = [as_read(s) for s in specs]
        c_side = r.random() < 0.5
        for step in range(steps):
            i = r.randrange(len(specs))
            spec = rand_set_value(r, slots[i])
            fits = spec[0] not in ("str", "bytes") or len(spec[1]) <= slots[i]
            before = bytes(sl.shm.buf)
            what = "c) %s step %d: %s[%d] = %s via %s" % (
                name, step, name, i, show(spec), "C" if c_side else "Python")
            tally("c: sets via %s that %s" % ("C" if c_side else "Python",
                                            "fit" if fits else "overflow"))
            if c_side:
                p = tool([NS, "set", name, str(i)], specs_input([spec]),
                         allowed=(EXIT_OK,) if fits else (EXIT_SETERR,))
                if p is not None and not fits:
                    R.check(p.stdout.decode().strip() == "EFBIG" and
                            err_name_of(p) == "EFBIG",
                            "%s: refused with %r, expected EFBIG" % (
                                what, p.stdout))
            else:
                try:
                    sl[i] = to_py(spec)
                    R.check(fits, what + ": CPython accepted an oversized "
                            "value")
                except ValueError:
                    R.check(not fits, what + ": CPython raised ValueError")
            try:
                shadow[i] = to_py(spec)
            except ValueError:
                pass
            if fits:
                model[i] = as_read(spec)
            else:
                R.check(bytes(sl.shm.buf) == before,
                        what + ": a refused set changed the list")
            R.check(bytes(sl.shm.buf) == bytes(shadow.shm.buf),
                    what + ": bytes differ from CPython's own")
            compare_lists(what + ": python read", py_read(sl), model)
            compare_lists(what + ": dump", c_dump(name), model)
            if step % 5 == 4:
                R.check(check_file_of(name) == len(specs),
                        what + ": check no longer says valid")
                compare_text(name, i, model[i])
            c_side = not c_side
        py_close(shadow)
        unlink(shadow_name)
        py_close(sl)
        unlink(name)


def fitting_code(r, fmt):
    """The back-transform code CPython would store with @fmt."""
    if fmt in (b"q", b"d", b"xxxxxxx?"):
        return 0
    if fmt == b"xxxxxx?x":
        return 3
    return r.choice([1, 2])


def test_junk(r, tmpdir, count=300):
    """d) files that were never lists: the checker must agree with the
    rules and never crash."""
    for k in range(count):
        c = r.random()
        if c < 0.3:
            blob = bytes(r.getrandbits(8) for _ in range(r.randint(0, 64)))
        else:
            # A plausible header: small N, slots mostly multiples of 8 but
            # sometimes empty or off the grid.
            n = r.randint(0, 4)
            slots = [r.choice([8, 8, 16, 24, 0, 4, 12]) for _ in range(n)]
            offs = [0]
            for s in slots:
                offs.append(offs[-1] + s)
            fmts = [r.choice([b"q", b"d", b"xxxxxxx?", b"xxxxxx?x",
                              b"%ds" % s, b"%ds" % (s + 8), b"0%ds" % s,
                              b"s", b"%dx" % s]) for s in slots]
            blob = (struct.pack("=q", n) +
                    struct.pack("=%dq" % (n + 1), *offs) +
                    bytes(offs[-1]) +
                    b"".join(f.ljust(8, b"\0")[:8] for f in fmts) +
                    bytes(fitting_code(r, f) if r.random() < 0.8 else
                          r.randrange(5) for f in fmts))
            if c > 0.8:
                blob = blob[:-1] if r.random() < 0.5 else blob + b"\0"
        check_bytes(tmpdir, "d) junk %d (%s)" % (k, blob[:48].hex()), blob,
                    None)
    # Slots that are empty or off the 8-byte grid, next to a bigger one so
    # that the size still adds up.
    for slots, fmts in [([0, 16], [b"q", b"d"]), ([16, 0], [b"16s", b"q"]),
                        ([4, 12], [b"q", b"q"]), ([12, 4], [b"12s", b"d"]),
                        ([0, 24, 0], [b"xxxxxx?x", b"24s", b"q"])]:
        offs = [0]
        for s in slots:
            offs.append(offs[-1] + s)
        blob = (struct.pack("=q", len(slots)) +
                struct.pack("=%dq" % (len(slots) + 1), *offs) +
                bytes(offs[-1]) + b"".join(f.ljust(8, b"\0") for f in fmts) +
                bytes(fitting_code(r, f) for f in fmts))
        check_bytes(tmpdir, "d) slots %s" % slots, blob, "invalid")
    check_bytes(tmpdir, "d) empty file", b"", "invalid")
    check_bytes(tmpdir, "d) N=-1", struct.pack("=qq", -1, 0) + bytes(64),
                "invalid")
    check_bytes(tmpdir, "d) huge N", struct.pack("=qq", 2 ** 62, 0),
                "invalid")
    check_bytes(tmpdir, "d) empty list", struct.pack("=qq", 0, 0), "valid")


def expect_error(args, stdin, status, err, what):
    p = tool(args, stdin, allowed=(status,))
    if p is not None and err is not None:
        R.check(err_name_of(p) == err, "f) %s: %s, expected %s" % (
            what, err_name_of(p), err))


def test_errors(r):
    """f) error paths, as both sides see them."""
    name = new_name()
    specs = [("int", 5), ("str", b"abc"), ("none", None)]
    sl = py_create([to_py(s) for s in specs], name)
    raw = bytes(sl.shm.buf)
    n = str(len(specs))
    expect_error([NS, "set", name, n], specs_input([("int", 1)]),
                 EXIT_SETERR, "ERANGE", "set past the end")
    try:
        sl[len(specs)] = 1
        R.check(False, "f) CPython set past the end")
    except IndexError:
        R.check(True, "")
    expect_error([NS, "text", name, n], b"", EXIT_LIBERR, "ERANGE",
                 "text past the end")
    expect_error([NS, "create", name], specs_input([("int", 1)]),
                 EXIT_LIBERR, "EEXIST", "create over an existing list")
    R.check(bytes(sl.shm.buf) == raw, "f) a failed create changed the list")
    for bad in (b"float 123\n", b"int 1x\n", b"int\n", b"bool 2\n",
                b"str 4\n", b"str zz\n", b"none 1\n", b"list\n", b"\n"):
        expect_error([NS, "set", name, "0"], bad, EXIT_USAGE, None,
                     "set with spec %r" % bad)
        other = new_name()
        expect_error([NS, "create", other], bad, EXIT_USAGE, None,
                     "create with spec %r" % bad)
        R.check(not segment_exists(other),
                "f) create with spec %r left a segment" % bad)
    R.check(bytes(sl.shm.buf) == raw, "f) a refused set changed the list")
    py_close(sl)
    unlink(name)

    missing = new_name()
    expect_error([NS, "dump", missing], b"", EXIT_LIBERR, "ENOENT",
                 "dump of a missing segment")
    expect_error([NS, "unlink", missing], b"", EXIT_LIBERR, "ENOENT",
                 "unlink of a missing segment")
    expect_error([NS, "create", "a/b"], b"", EXIT_LIBERR, "EINVAL",
                 "create with '/' in the name")
    expect_error([NS, "create", "x" * 300], b"", EXIT_LIBERR,
                 "ENAMETOOLONG", "create with a 300-byte name")

    # A plain segment that is not a list: every list command refuses it.
    plain = new_name()
    shm = shared_memory.SharedMemory(name=plain, create=True, size=4096)
    resource_tracker.unregister(shm._name, "shared_memory")
    try:
        shm.buf[:] = bytes(r.getrandbits(8) for _ in range(4096))
        if ref_check(bytes(shm.buf)) is None:
            expect_error([NS, "dump", plain], b"", EXIT_LIBERR, "EBADMSG",
                         "dump of a plain segment")
            expect_error([NS, "set", plain, "0"], specs_input([("int", 1)]),
                         EXIT_LIBERR, "EBADMSG", "set in a plain segment")
    finally:
        shm.close()
        unlink(plain)


class Terminated(BaseException):
    pass


def _terminate(signum, frame):
    raise Terminated()


def main():
    if TOOL is None:
        print("usage: test_list_interop.py SHMSEG_TOOL", file=sys.stderr)
        return 2
    seed = os.environ.get("SHMFS_SEED")
    seed = int(seed) if seed else int.from_bytes(os.urandom(4), "little")
    print("list_interop: seed %d (SHMFS_SEED=%d repeats this run)" % (
        seed, seed), flush=True)
    r = random.Random(seed)
    # A timeout (meson sends SIGTERM) must still run the cleanup below.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        with tempfile.TemporaryDirectory(prefix="shmfs-interop-") as tmpdir:
            for test in (lambda: test_python_writes(r, tmpdir),
                         lambda: test_c_writes(r),
                         lambda: test_setitem(r),
                         lambda: test_junk(r, tmpdir),
                         lambda: test_errors(r)):
                try:
                    test()
                except Exception:
                    R.check(False, "test raised:\n" + traceback.format_exc())
    except Terminated:
        R.check(False, "terminated by SIGTERM")
    finally:
        cleanup()
    R.check(not leftovers(), "segments left in %s: %s" % (NS, leftovers()))
    for what in sorted(STATS):
        print("list_interop: covered %d %s" % (STATS[what], what))
    print("list_interop: %d passed, %d failed" % (R.passed, R.failed))
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main())
