#!/usr/bin/python3
"""test_lists.py - ShareableList segments as folders (issue 3).

    test_lists.py SHMFS [TEST-NAME-SUBSTRING ...]

Lists are the exact bytes CPython 3.11's ShareableList writes, put in a
private shm directory; CPython's own ShareableList code is then attached to
that file (shmfs_harness.py_list) to check what Python sees.  Covers the
folder shape, cat of every element type, stat size == cat length, writes
that parse (and those that do not: EINVAL / EFBIG with the old value kept
and the shell's $? non-zero), no stale cache in either direction, refused
element creation/removal, rm -r, .raw, xattrs, and malformed lists.
"""
import errno
import mmap
import os
import random
import stat
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shmfs_harness as H  # noqa: E402
from shmfs_harness import check, eq, expect_errno, elem_text  # noqa: E402

FLOATS = [0.0, -0.0, 0.1, 1 / 3, 2.5, 100.0, -1234.5678, 1e16, 1e15,
          123456789012345.6, 9999999999999998.0, 1e-4, 9.9e-5, 1e-5,
          2.5e-308, 5e-324, 1.7976931348623157e308, 1e22, float("inf"),
          float("-inf"), float("nan"), 0.30000000000000004, 1e-7, 3.14159]
INTS = [0, 1, -1, 42, 2 ** 63 - 1, -2 ** 63, 10 ** 18, -987654321]
STRS = ["", "hello", "h\u00e9llo", "\u00fcn\u00efc\u00f8d\u00e9 \u20ac",
        "\u65e5\u672c", "a b\tc", "x" * 100, "line1\nline2"]
BYTES = [b"", b"\x00\x01\xff\n", b"raw\x00bytes", b"\xff" * 20,
         b"trailing\x00\x00", b"\n"]
ALL_VALUES = INTS + FLOATS + [True, False, None] + STRS + BYTES

TYPE_NAME = {int: "int", float: "float", bool: "bool", str: "str",
             bytes: "bytes", type(None): "None"}


mk = H.shown_list


def write_elem(path, data):
    """open(O_WRONLY|O_TRUNC) + one write + close, like the shell's
    `echo > path`.  Returns None, or (step, errno) of the first failure."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    except OSError as e:
        return ("open", e.errno)
    err = None
    try:
        n = os.write(fd, data)
        if n != len(data):
            err = ("short write %d/%d" % (n, len(data)), 0)
    except OSError as e:
        err = ("write", e.errno)
    try:
        os.close(fd)
    except OSError as e:
        if err is None:
            err = ("close", e.errno)
    return err


def shell_quote(b):
    return "'" + b.replace("'", "'\\''") + "'"


# ---------------------------------------------------------------------------
# Shape


def test_list_is_folder_with_elements_and_raw(m):
    values = [1, 2.5, True, None, "str", b"by"]
    data, _ = mk(m, "L", values)
    st = os.stat(m.path("L"))
    check(stat.S_ISDIR(st.st_mode), "not a directory")
    eq(sorted(os.listdir(m.path("L"))),
       sorted([".raw"] + [str(i) for i in range(len(values))]), "entries")
    for i in range(len(values)):
        check(stat.S_ISREG(os.stat(m.path("L", str(i))).st_mode),
              "element %d not a regular file" % i)
    raw = os.stat(m.path("L", ".raw"))
    check(stat.S_ISREG(raw.st_mode), ".raw not a regular file")
    eq(raw.st_size, len(data), ".raw size")
    real = os.stat(m.shm_path("L"))
    eq((st.st_uid, st.st_gid), (real.st_uid, real.st_gid), "folder owner")
    eq(os.listdir(m.mnt), ["L"], "top level shows the list once")
    r = subprocess.run(["ls", "-la", m.path("L")], capture_output=True,
                       text=True)
    eq(r.returncode, 0, "ls -la of the folder")


def test_empty_list_is_folder_with_only_raw(m):
    data, _ = H.cpython_list_bytes([])
    eq(data, b"\0" * 16, "CPython's empty list")
    mk(m, "E", [])
    eq(os.listdir(m.path("E")), [".raw"], "empty list entries")


def test_large_list(m):
    values = list(range(1000))
    mk(m, "big", values)
    names = os.listdir(m.path("big"))
    eq(len(names), 1001, "entries of a 1000-element list")
    for i in (0, 1, 499, 999):
        eq(H.read_file(m.path("big", str(i))), b"%d\n" % i, "element %d" % i)
    expect_errno(errno.ENOENT, os.stat, m.path("big", "1000"),
                 what="element N")
    for bad in ("01", "-1", "+1", "1.0", "99999999999999999999999"):
        expect_errno(errno.ENOENT, os.stat, m.path("big", bad),
                     what="element name %r" % bad)


# ---------------------------------------------------------------------------
# Reading


def test_cat_every_element_type(m):
    mk(m, "all", ALL_VALUES)
    sl = H.py_list(m.shm_path("all"))
    try:
        for i, v in enumerate(ALL_VALUES):
            got = H.read_file(m.path("all", str(i)))
            want = elem_text(v)
            eq(got, want, "cat of element %d (%s %r)" % (
                i, type(v).__name__, v))
            eq(got, elem_text(sl[i]), "element %d vs CPython's read" % i)
    finally:
        sl.shm.close()
    # the cat command itself, on a few
    for i in (0, len(INTS), len(INTS) + len(FLOATS) + 3):
        r = subprocess.run(["cat", m.path("all", str(i))],
                           capture_output=True)
        eq(r.stdout, elem_text(ALL_VALUES[i]), "cat(1) of element %d" % i)


def test_stat_size_equals_cat_length(m):
    mk(m, "sz", ALL_VALUES)
    for i, v in enumerate(ALL_VALUES):
        n = len(H.read_file(m.path("sz", str(i))))
        eq(os.stat(m.path("sz", str(i))).st_size, n,
           "stat size of element %d (%r)" % (i, v))
    with os.scandir(m.path("sz")) as it:
        for e in it:
            if e.name != ".raw":
                eq(e.stat().st_size, len(elem_text(ALL_VALUES[int(e.name)])),
                   "ls -l size of element %s" % e.name)


def test_cat_glob_skips_raw(m):
    values = [1, "two", 3.0]
    mk(m, "g", values)
    r = H.sh("cat %s/*" % m.path("g"))
    eq(r.returncode, 0, "cat DIR/*")
    eq(r.stdout, b"".join(elem_text(v) for v in values), "cat DIR/*")


def test_read_at_offsets(m):
    mk(m, "o", ["hello world", 1234567])
    fd = os.open(m.path("o", "0"), os.O_RDONLY)
    try:
        eq(os.pread(fd, 5, 6), b"world", "pread in the middle")
        eq(os.pread(fd, 100, 12), b"", "pread at EOF")
        eq(os.pread(fd, 100, 1000), b"", "pread past EOF")
        eq(os.read(fd, 3), b"hel", "short read")
        eq(os.read(fd, 3), b"lo ", "next read continues")
    finally:
        os.close(fd)


def test_invalid_utf8_str_element(m):
    """A str slot holding invalid UTF-8 (what CPython 3.11 leaves after
    truncating) is still a list; reading that element fails, never
    crashes, and the other elements read fine."""
    data, _ = H.cpython_list_bytes(["abcdefg", 5])
    data = bytearray(data)
    at = data.find(b"abcdefg")
    data[at:at + 3] = b"\xe2\x82\xff"
    H.write_file(m.shm_path("bad8"), bytes(data))
    ok, _ = H.poll_until(lambda: os.path.isdir(m.path("bad8")), 2)
    check(ok, "list with an invalid UTF-8 str is still a list")
    e = H.errno_of(H.read_file, m.path("bad8", "0"))
    H.note("cat of an invalid UTF-8 str element: %s" % (
        "ok" if e is None else H.ename(e)))
    check(e in (errno.EILSEQ, errno.EIO, errno.EBADMSG),
          "reading the invalid UTF-8 str: %s" % (
              "succeeded" if e is None else H.ename(e)))
    eq(H.read_file(m.path("bad8", "1")), b"5\n", "other element")


# ---------------------------------------------------------------------------
# Writing


def test_echo_42_sets_int_python_sees_it(m):
    mk(m, "w", [7, "s", 1.0])
    sl = H.py_list(m.shm_path("w"))
    try:
        r = H.sh("echo 42 > %s" % m.path("w", "0"))
        eq(r.returncode, 0, "echo 42 > DIR/0 status (%r)" % r.stderr)
        eq(sl[0], 42, "Python sees 42 at once")
        eq(H.read_file(m.path("w", "0")), b"42\n", "cat after echo")
        eq(os.stat(m.path("w", "0")).st_size, 3, "size after echo")
        for text, val in ((b"-5", -5), (b"9223372036854775807\n", 2 ** 63 - 1),
                          (b"-9223372036854775808\n", -2 ** 63),
                          (b"+17\n", 17), (b"0\n", 0)):
            eq(write_elem(m.path("w", "0"), text), None, "write %r" % text)
            eq(sl[0], val, "Python sees %r" % text)
    finally:
        sl.shm.close()


def test_write_every_type(m):
    values = [1.0, True, None, "hello", b"abcdefgh", 0.5]
    mk(m, "t", values)
    sl = H.py_list(m.shm_path("t"))
    cases = [
        (0, b"2.5\n", 2.5), (0, b"-0.0\n", -0.0), (0, b"inf\n", float("inf")),
        (0, b"1e300\n", 1e300), (0, b"-2e-3", -0.002), (0, b"nan\n", None),
        (0, b"12\n", 12.0),
        (1, b"False\n", False), (1, b"True", True),
        (2, b"None\n", None),
        (3, b"hey\n", "hey"), (3, b"bye", "bye"), (3, b"\n", ""),
        (3, "h\u00e9\n".encode(), "h\u00e9"), (3, b"a\nb\n", "a\nb"),
        (4, b"ab\n", b"ab\n"), (4, b"x\x00y", b"x\x00y"),
        (4, b"\xff\xfe", b"\xff\xfe"), (4, b"12345678", b"12345678"),
        (5, b"0.1\n", 0.1),
    ]
    try:
        for i, text, want in cases:
            eq(write_elem(m.path("t", str(i)), text), None,
               "write %r to element %d" % (text, i))
            got = sl[i]
            if want is None and i == 0:
                check(got != got, "Python sees nan")
            else:
                check(H.same_value(got, want),
                      "element %d after writing %r: Python sees %r, want %r"
                      % (i, text, got, want))
            eq(H.read_file(m.path("t", str(i))), elem_text(got),
               "cat after writing %r" % text)
    finally:
        sl.shm.close()
    # shell forms: printf for bytes keeps the newline
    r = H.sh("printf 'xy\\n' > %s" % m.path("t", "4"))
    eq(r.returncode, 0, "printf > bytes element")
    eq(H.read_file(m.path("t", "4")), b"xy\n", "bytes keep their newline")


BAD_TEXT = [
    # (values index, text)
    (0, b"12abc\n"), (0, b"\n"), (0, b"1.5\n"), (0, b"0x10\n"),
    (0, b" 1\n"), (0, b"abc\n"), (0, b"1 2\n"), (0, b"1\n\n"),
    (1, b"abc\n"), (1, b"0x1p3\n"), (1, b"1.5.5\n"), (1, b"\n"),
    (1, b"1_000.0\n"), (1, b" 2.5\n"),
    (2, b"true\n"), (2, b"1\n"), (2, b"yes\n"), (2, b"TRUE\n"), (2, b"\n"),
    (3, b"none\n"), (3, b"null\n"), (3, b"0\n"), (3, b"\n"),
    (4, b"\xff\xfe\n"), (4, b"ab\xc3\n"),
]


def test_bad_text_is_einval_and_keeps_value(m):
    values = [7, 2.5, True, None, "abcd"]
    mk(m, "b", values)
    sl = H.py_list(m.shm_path("b"))
    try:
        for i, text in BAD_TEXT:
            before = sl[i]
            r = write_elem(m.path("b", str(i)), text)
            eq(r, ("write", errno.EINVAL),
               "writing %r to a %s element" % (text,
                                               type(values[i]).__name__))
            check(H.same_value(sl[i], before), "value changed to %r after "
                  "a refused write of %r" % (sl[i], text))
            eq(H.read_file(m.path("b", str(i))), elem_text(before),
               "cat after the refused write")
    finally:
        sl.shm.close()


def test_int_out_of_range(m):
    mk(m, "r", [7, 1.0])
    for i, text in ((0, b"9223372036854775808\n"),
                    (0, b"-9223372036854775809\n"),
                    (0, b"99999999999999999999999\n"), (1, b"1e400\n")):
        r = write_elem(m.path("r", str(i)), text)
        check(r is not None and r[0] == "write" and r[1] in (
            errno.EINVAL, errno.ERANGE), "writing %r: %r" % (text, r))
        H.note("%r -> %s" % (text, H.ename(r[1])))
    eq(H.read_file(m.path("r", "0")), b"7\n", "int kept")
    eq(H.read_file(m.path("r", "1")), b"1.0\n", "float kept")


def test_shell_sees_einval(m):
    mk(m, "s", [7, "abcd"])
    r = H.sh("echo 12abc > %s" % m.path("s", "0"))
    check(r.returncode != 0, "sh: $? is 0 after writing bad text")
    check(r.stderr != b"", "sh printed nothing")
    r = H.sh("echo 12abc > %s" % m.path("s", "0"), shell="bash")
    check(r.returncode != 0, "bash: $? is 0 after writing bad text")
    check(b"Invalid argument" in r.stderr, "bash message: %r" % r.stderr)
    r = H.sh("echo 12abc > %s; echo rc=$?" % m.path("s", "0"))
    check(b"rc=0" not in r.stdout, "$? inside the shell: %r" % r.stdout)
    eq(H.read_file(m.path("s", "0")), b"7\n", "value kept")


def test_oversize_is_efbig_and_keeps_value(m):
    values = ["abc", b"xyz", "a" * 20]     # slots of 8, 8, 24 bytes
    mk(m, "f", values)
    sl = H.py_list(m.shm_path("f"))
    try:
        eq(write_elem(m.path("f", "0"), b"12345678\n"), None,
           "8 bytes fit an 8-byte slot")
        eq(sl[0], "12345678", "Python sees the 8-byte str")
        for i, text in ((0, b"123456789\n"), (1, b"123456789"),
                        (2, b"b" * 25 + b"\n"), (0, b"x" * 5000 + b"\n")):
            before = sl[i]
            r = write_elem(m.path("f", str(i)), text)
            eq(r, ("write", errno.EFBIG), "writing %d bytes to element %d"
               % (len(text), i))
            eq(sl[i], before, "value kept after EFBIG")
            eq(H.read_file(m.path("f", str(i))), elem_text(before),
               "cat after EFBIG")
        r = H.sh("echo 123456789 > %s" % m.path("f", "0"))
        check(r.returncode != 0, "sh: $? 0 after EFBIG")
        r = H.sh("echo 123456789 > %s" % m.path("f", "0"), shell="bash")
        check(b"File too large" in r.stderr, "bash message: %r" % r.stderr)
        eq(sl[0], "12345678", "value kept after the shell's EFBIG")
    finally:
        sl.shm.close()


def test_write_in_pieces_or_at_offset(m):
    """Not in the spec: record what a two-write echo and O_APPEND do; the
    list must stay valid and the daemon alive."""
    mk(m, "p", [5, "abcd"])
    fd = os.open(m.path("p", "0"), os.O_WRONLY | os.O_TRUNC)
    res = []
    for piece in (b"4", b"2\n"):
        try:
            os.write(fd, piece)
            res.append("ok")
        except OSError as e:
            res.append(H.ename(e.errno))
    os.close(fd)
    H.note("two writes '4','2\\n' -> %s, element reads %r" % (
        res, H.read_file(m.path("p", "0"))))
    H.sh("echo 9 >> %s" % m.path("p", "0"))
    H.note("append: element reads %r" % H.read_file(m.path("p", "0")))
    check(os.path.isdir(m.path("p")), "still a list")


def test_type_of_element_follows_python(m):
    mk(m, "ty", [5, "abcdefg"])
    sl = H.py_list(m.shm_path("ty"))
    try:
        eq(os.getxattr(m.path("ty", "0"), "user.shmfs.type"), b"int", "type")
        sl[0] = "abc"       # fits the 8-byte slot: the element becomes a str
        eq(os.getxattr(m.path("ty", "0"), "user.shmfs.type"), b"str",
           "type after Python stored a str")
        eq(H.read_file(m.path("ty", "0")), b"abc\n", "cat of the new str")
        eq(write_elem(m.path("ty", "0"), b"12abc\n"), None,
           "12abc is a valid str")
        eq(sl[0], "12abc", "Python sees the str")
        sl[1] = 3.5
        eq(H.read_file(m.path("ty", "1")), b"3.5\n", "str slot holding float")
        eq(os.getxattr(m.path("ty", "1"), "user.shmfs.type"), b"float",
           "type float")
    finally:
        sl.shm.close()


@H.timeout(180)
def test_python_writes_seen_at_once(m):
    mk(m, "c", [0, "x" * 30, 0.0, b"y" * 15, False])
    sl = H.py_list(m.shm_path("c"))
    rnd = random.Random(1)
    try:
        for k in range(2000):
            sl[0] = k * 7919 - 5000000
            eq(H.read_file(m.path("c", "0")), b"%d\n" % sl[0],
               "round %d: cat of int after Python wrote it" % k)
            s = "s" * rnd.randrange(0, 31)
            sl[1] = s
            eq(H.read_file(m.path("c", "1")), s.encode() + b"\n",
               "round %d: str of %d chars" % (k, len(s)))
            f = rnd.random() * 10 ** rnd.randrange(-10, 20)
            sl[2] = f
            eq(H.read_file(m.path("c", "2")), elem_text(f),
               "round %d: float" % k)
            b = bytes(rnd.randrange(1, 256) for _ in range(rnd.randrange(16)))
            sl[3] = b
            eq(H.read_file(m.path("c", "3")), b, "round %d: bytes" % k)
            sl[4] = bool(k & 1)
            eq(H.read_file(m.path("c", "4")), elem_text(bool(k & 1)),
               "round %d: bool" % k)
        for k in range(30):
            sl[0] = k
            r = subprocess.run(["cat", m.path("c", "0")], capture_output=True)
            eq(r.stdout, b"%d\n" % k, "cat(1) round %d" % k)
    finally:
        sl.shm.close()


def test_stat_size_follows_python_writes(m):
    mk(m, "z", [0, "x" * 30])
    sl = H.py_list(m.shm_path("z"))
    try:
        for k, (iv, sv) in enumerate(((5, "a"), (123456789, "a" * 25),
                                      (-1, ""), (10 ** 15, "bb"))):
            sl[0] = iv
            sl[1] = sv
            eq(os.stat(m.path("z", "0")).st_size, len(b"%d\n" % iv),
               "round %d: stat size of int %d" % (k, iv))
            eq(os.stat(m.path("z", "1")).st_size, len(sv) + 1,
               "round %d: stat size of str of %d" % (k, len(sv)))
    finally:
        sl.shm.close()


def _reader_loop(m, name, seconds):
    """cat elements 0 and 1 for a while; returns (texts seen, errors)."""
    seen, errors = set(), {}
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        for i in ("0", "1"):
            try:
                seen.add(H.read_file(m.path(name, i)))
            except OSError as e:
                errors[H.ename(e.errno)] = errors.get(H.ename(e.errno), 0) + 1
    return seen, errors


def _fork_writer(fn):
    pid = os.fork()
    if pid == 0:
        try:
            fn()
            os._exit(0)
        except BaseException:
            os._exit(1)
    return pid


def test_concurrent_writer_no_torn_numbers(m):
    """Another process stores numbers with single aligned 8-byte stores
    (numpy over a mapping of the segment); cat never shows a mix."""
    data, _ = mk(m, "n", [0, 0.0])
    a, b = 0x1111111111111111, -0x2222222222222222
    fa, fb = 1.0000000000000002, -3.0e300
    data_start = 8 + 8 * 3

    def writer():
        import numpy as np
        fd = os.open(m.shm_path("n"), os.O_RDWR)
        mm = mmap.mmap(fd, len(data))
        ints = np.frombuffer(mm, dtype=np.int64, count=1, offset=data_start)
        flts = np.frombuffer(mm, dtype=np.float64, count=1,
                             offset=data_start + 8)
        end = time.monotonic() + 2
        while time.monotonic() < end:
            for _ in range(1000):
                ints[0] = a
                flts[0] = fa
                ints[0] = b
                flts[0] = fb
    pid = _fork_writer(writer)
    try:
        time.sleep(0.05)
        seen, errors = _reader_loop(m, "n", 1.5)
    finally:
        _, st = os.waitpid(pid, 0)
    eq(os.waitstatus_to_exitcode(st), 0, "writer status")
    allowed = {b"0\n", b"0.0\n", b"%d\n" % a, b"%d\n" % b, elem_text(fa),
               elem_text(fb)}
    check(seen <= allowed, "torn values read: %r" % (seen - allowed))
    eq(errors, {}, "errors while another process stores numbers")


def test_concurrent_cpython_writer(m):
    """CPython's own __setitem__ briefly zeroes the element's format while
    it rewrites it (struct.pack_into memsets first), so a reader may see a
    damaged list for an instant.  The daemon waits such a moment out:
    values read must be whole, and no read may fail."""
    mk(m, "cp", [0, 0.0])
    a, b = 0x1111111111111111, -0x2222222222222222
    fa, fb = 1.0000000000000002, -3.0e300

    def writer():
        sl = H.py_list(m.shm_path("cp"))
        end = time.monotonic() + 2
        while time.monotonic() < end:
            sl[0] = a
            sl[1] = fa
            sl[0] = b
            sl[1] = fb
    pid = _fork_writer(writer)
    try:
        time.sleep(0.05)
        seen, errors = _reader_loop(m, "cp", 1.5)
    finally:
        _, st = os.waitpid(pid, 0)
    eq(os.waitstatus_to_exitcode(st), 0, "writer status")
    H.note("transient errors while CPython writes: %s" % (errors or "none"))
    # 0 and 0.0: CPython's pack_into zeroes the value before storing it
    allowed = {b"0\n", b"0.0\n", b"%d\n" % a, b"%d\n" % b, elem_text(fa),
               elem_text(fb)}
    check(seen <= allowed, "torn values read: %r" % (seen - allowed))
    eq(errors, {}, "errors while CPython stores values")
    check(os.path.isdir(m.path("cp")), "still a folder afterwards")


def test_type_change_caught_between_code_and_value(m):
    """CPython's __setitem__ of a value of another type writes the
    element's format and type code, then the value: for that moment a str
    element holds the bytes of the int it replaces, which are not UTF-8.
    A cat then must wait for the value, not fail with EILSEQ (it did:
    found by tests/stress).  Each trial leaves the element that way for
    WINDOW seconds, reads it meanwhile, and counts only reads begun before
    the value was stored."""
    WINDOW = 0.005
    mk(m, "ty", [-1, 0])
    sl = H.py_list(m.shm_path("ty"))
    at = sl._offset_data_start + sl._allocated_offsets[0]
    got = []  # (text, wanted) of the reads begun inside the window
    try:
        for trial in range(20):
            sl[0] = -1  # 0xff * 8: not UTF-8
            sl._set_packing_format_and_transform(0, "8s", "")
            stored = []

            def store_value():
                time.sleep(WINDOW)
                struct.pack_into("8s", sl.shm.buf, at, b"str-%04d" % trial)
                stored.append(time.monotonic())
            t = threading.Thread(target=store_value)
            t.start()
            began = time.monotonic()
            try:
                text = H.read_file(m.path("ty", "0"))
            except OSError as e:
                text = H.ename(e.errno)
            t.join()
            if began < stored[0]:
                got.append((text, b"str-%04d\n" % trial))
    finally:
        sl.shm.close()
    check(len(got) >= 5,
          "only %d of 20 reads began inside the window" % len(got))
    eq([g for g, _ in got], [w for _, w in got], "texts read inside the "
       "window")


@H.timeout(60)
def test_concurrent_preads_of_one_fd_while_length_changes(m):
    """Element files are direct I/O, so preads of one open fd from several
    threads reach the daemon at once, and each read at offset 0 re-reads
    the element.  Two threads at offset 0 and two further in, while another
    process keeps changing the element's length (a 200 kB str, big enough
    that the daemon's text buffer is an mmap'ed allocation that moves when
    it grows): the daemon must not die nor report a use-after-free (the
    harness checks its log)."""
    slot = 200000
    data, _ = mk(m, "big", ["a" * slot])
    start = data.find(b"a" * slot)
    check(start > 0, "str data not found in CPython's bytes")

    def writer():
        fd = os.open(m.shm_path("big"), os.O_RDWR)
        mm = mmap.mmap(fd, len(data))
        os.close(fd)
        end = time.monotonic() + 3
        n = 0
        while time.monotonic() < end:
            n = (n + 4096) % slot
            mm[start:start + slot] = b"b" * n + b"\0" * (slot - n)
    pid = _fork_writer(writer)
    counts = {"rounds": 0, "reads": 0, "errors": 0}
    cur = {"fd": -1, "stop": 0.0, "done": False}
    lock = threading.Lock()
    # Each round opens a new fd: its text buffer starts at the length of
    # the moment and is grown (realloc'ed) by whichever read at offset 0
    # first sees the element longer - the old daemon's race.
    gate = threading.Barrier(5)

    def reader(off):
        r = e = 0
        while True:
            gate.wait()
            if cur["done"]:
                break
            while time.monotonic() < cur["stop"]:
                try:
                    os.pread(cur["fd"], 262144, off)
                    r += 1
                except OSError:
                    e += 1
            gate.wait()
        with lock:
            counts["reads"] += r
            counts["errors"] += e
    ts = [threading.Thread(target=reader, args=(off,))
          for off in (0, 0, 1, 100)]
    for t in ts:
        t.start()
    try:
        time.sleep(0.05)
        end = time.monotonic() + 2.5
        while time.monotonic() < end and m.alive():
            try:
                cur["fd"] = os.open(m.path("big", "0"), os.O_RDONLY)
            except OSError as e:
                H.note("open failed: %s" % H.ename(e.errno))
                break
            cur["stop"] = time.monotonic() + 0.005
            gate.wait()              # go
            gate.wait()              # all stopped
            H.errno_of(os.close, cur["fd"])
            counts["rounds"] += 1
    finally:
        cur["done"] = True
        gate.wait()
        for t in ts:
            t.join()
        _, st = os.waitpid(pid, 0)
    H.note("%d rounds of 4 threads on one fd: %d preads, %d failed" % (
        counts["rounds"], counts["reads"], counts["errors"]))
    eq(os.waitstatus_to_exitcode(st), 0, "writer status")
    check(m.alive(), "the daemon died under concurrent preads of one fd")
    eq(counts["errors"], 0, "failed preads")


# ---------------------------------------------------------------------------
# Fixed length: no creating or removing elements


def test_remove_element_refused(m):
    mk(m, "rm", [1, 2, 3])
    ok = (errno.EPERM, errno.EACCES, errno.EROFS, errno.EOPNOTSUPP)
    H.note("unlink element: " + expect_errno(ok, os.unlink, m.path("rm", "1"),
                                             what="unlink element"))
    H.note("unlink .raw: " + expect_errno(ok, os.unlink, m.path("rm", ".raw"),
                                          what="unlink .raw"))
    r = H.sh("rm -f %s" % m.path("rm", "0"))
    check(r.returncode != 0, "rm -f of an element returned 0")
    eq(sorted(os.listdir(m.path("rm"))), [".raw", "0", "1", "2"], "entries")
    check(os.path.isfile(m.shm_path("rm")), "segment still there")
    eq(H.read_file(m.path("rm", "1")), b"2\n", "value")


def test_create_element_refused(m):
    mk(m, "cr", [1, 2])
    ok = (errno.EPERM, errno.EACCES, errno.EROFS, errno.EOPNOTSUPP)
    for name in ("2", "new", "10"):
        H.note("create %s: %s" % (name, expect_errno(
            ok, os.open, m.path("cr", name), os.O_CREAT | os.O_WRONLY, 0o600,
            what="create element " + name)))
    r = H.sh("touch %s" % m.path("cr", "x"))
    check(r.returncode != 0, "touch of a new element returned 0")
    H.note("mkdir in a list: " + expect_errno(
        ok, os.mkdir, m.path("cr", "sub"), what="mkdir in a list"))
    H.note("rename element: " + expect_errno(
        ok + (errno.EXDEV, errno.EINVAL), os.rename, m.path("cr", "0"),
        m.path("cr", "5"), what="rename element"))
    H.note("symlink in a list: " + expect_errno(
        ok, os.symlink, "0", m.path("cr", "l"), what="symlink in a list"))
    eq(sorted(os.listdir(m.path("cr"))), [".raw", "0", "1"], "entries")
    eq(os.listdir(m.shm), ["cr"], "nothing new in the shm dir")


def test_truncate_element_does_not_clear_it(m):
    """O_TRUNC/truncate of an element (what `>` does before writing) must
    not change the value."""
    mk(m, "tr", [77, "abc"])
    os.close(os.open(m.path("tr", "0"), os.O_WRONLY | os.O_TRUNC))
    eq(H.read_file(m.path("tr", "0")), b"77\n", "after open O_TRUNC")
    e = H.errno_of(os.truncate, m.path("tr", "1"), 0)
    H.note("truncate(element, 0): %s" % ("ok" if e is None else H.ename(e)))
    eq(H.read_file(m.path("tr", "1")), b"abc\n", "after truncate(0)")


def test_rm_r_destroys_segment(m):
    mk(m, "gone", [1, "two", None])
    r = H.sh("rm -r %s" % m.path("gone"))
    H.note("rm -r: status %d, stderr %r" % (r.returncode, r.stderr[:200]))
    ok, _ = H.poll_until(lambda: not os.path.exists(m.shm_path("gone")), 1)
    check(ok, "segment still in the shm dir after rm -r")
    check(not os.path.exists(m.path("gone")), "folder still on the mount")


def test_rm_r_exit_status_clean(m):
    mk(m, "gone2", [1, 2])
    r = H.sh("rm -r %s" % m.path("gone2"))
    eq((r.returncode, r.stderr), (0, b""), "rm -r DIR status and messages")
    check(not os.path.exists(m.shm_path("gone2")), "segment destroyed")


def test_rm_rf_destroys_segment(m):
    mk(m, "gone3", [1, 2])
    r = H.sh("rm -rf %s" % m.path("gone3"))
    check(not os.path.exists(m.shm_path("gone3")),
          "rm -rf left the segment (status %d, %r)" % (r.returncode,
                                                       r.stderr))


def test_rmdir_unlinks_segment(m):
    mk(m, "rd", [1])
    os.rmdir(m.path("rd"))
    check(not os.path.exists(m.shm_path("rd")), "segment still there")
    expect_errno(errno.ENOENT, os.stat, m.path("rd"), what="stat after rmdir")


def test_unlink_of_list_folder(m):
    """unlink(2) on a folder is EISDIR (rm without -r says so)."""
    mk(m, "ul", [1])
    expect_errno((errno.EISDIR, errno.EPERM), os.unlink, m.path("ul"),
                 what="unlink of a list folder")
    check(os.path.exists(m.shm_path("ul")), "segment survives plain unlink")


def test_rename_list_folder_renames_segment(m):
    mk(m, "old", [1, "x"])
    os.rename(m.path("old"), m.path("new"))
    eq(os.listdir(m.shm), ["new"], "segment renamed in the shm dir")
    check(os.path.isdir(m.path("new")), "still a folder under the new name")
    eq(H.read_file(m.path("new", "1")), b"x\n", "content follows")


def test_chmod_list_folder_changes_segment(m):
    mk(m, "cm", [1], mode=0o600)
    os.chmod(m.path("cm"), 0o644)
    eq(oct(stat.S_IMODE(os.stat(m.shm_path("cm")).st_mode)), oct(0o644),
       "chmod of the folder changes the segment's mode")


# ---------------------------------------------------------------------------
# .raw


def test_raw_is_the_segment_and_mmapable(m):
    values = [1234, "text", 2.5]
    data, _ = mk(m, "raw", values)
    eq(H.read_file(m.path("raw", ".raw")), data, ".raw content")
    eq(os.getxattr(m.path("raw", ".raw"), "user.shmfs.passthrough"), b"1",
       ".raw passthrough")
    fd = os.open(m.path("raw", ".raw"), os.O_RDWR)
    mm = mmap.mmap(fd, len(data))
    os.close(fd)
    fdd = os.open(m.shm_path("raw"), os.O_RDWR)
    md = mmap.mmap(fdd, len(data))
    os.close(fdd)
    try:
        eq(bytes(mm), data, ".raw mapping")
        # element 0 is an int at data offset 0: 8 + 8 * (N + 1)
        off = 8 + 8 * (len(values) + 1)
        mm[off:off + 8] = struct.pack("q", 99)          # via the mount map
        eq(md[off:off + 8], struct.pack("q", 99), "direct map sees .raw map")
        eq(H.read_file(m.path("raw", "0")), b"99\n", "cat sees .raw write")
        md[off:off + 8] = struct.pack("q", -7)          # direct
        eq(mm[off:off + 8], struct.pack("q", -7), ".raw map sees direct")
        eq(H.read_file(m.path("raw", "0")), b"-7\n", "cat sees direct write")
        eq(write_elem(m.path("raw", "0"), b"5\n"), None, "echo 5")
        eq(mm[off:off + 8], struct.pack("q", 5), ".raw map sees echo")
    finally:
        mm.close()
        md.close()


# ---------------------------------------------------------------------------
# xattrs


def _daemon_maps(m, path):
    with open("/proc/%d/maps" % m.pid) as f:
        return any(line.rstrip("\n").endswith(path) for line in f)


def test_daemon_unmaps_idle_lists(m):
    """The daemon keeps a folder's list mapped while it is used, and lets it
    go once idle, so that shmfsctl does not count the daemon as a user."""
    mk(m, "idle", [1, "x"])
    eq(H.read_file(m.path("idle", "0")), b"1\n", "element 0")
    check(_daemon_maps(m, m.shm_path("idle")),
          "the daemon maps the list right after a read")
    ok, t = H.poll_until(lambda: not _daemon_maps(m, m.shm_path("idle")), 5)
    check(ok, "the daemon still maps an idle list after 5 s")
    H.note("idle list unmapped after %.1f s" % t)
    eq(H.read_file(m.path("idle", "1")), b"x\n", "element 1 after the unmap")


def test_xattrs(m):
    values = [1, 2.5, True, None, "s", b"b"]
    _, fmt = mk(m, "x", values)
    H.write_file(m.shm_path("plain"), b"not a list" * 3)
    eq(os.getxattr(m.path("x"), "user.shmfs.kind"), b"list", "folder kind")
    eq(os.getxattr(m.path("x"), "user.shmfs.format"), fmt.encode(),
       "folder format (Python's ShareableList.format)")
    eq(os.getxattr(m.path("plain"), "user.shmfs.kind"), b"segment",
       "plain kind")
    for i, v in enumerate(values):
        eq(os.getxattr(m.path("x", str(i)), "user.shmfs.type"),
           TYPE_NAME[type(v)].encode(), "type of element %d" % i)
        check("user.shmfs.type" in os.listxattr(m.path("x", str(i))),
              "listxattr of element %d" % i)
    names = os.listxattr(m.path("x"))
    for n in ("user.shmfs.kind", "user.shmfs.format"):
        check(n in names, "%s not listed on the folder: %r" % (n, names))
    check("user.shmfs.passthrough" in os.listxattr(m.path("plain")),
          "passthrough not listed on a file")
    expect_errno(errno.ENODATA, os.getxattr, m.path("x"), "user.shmfs.type",
                 what="type on the folder")
    expect_errno(errno.ENODATA, os.getxattr, m.path("x", "0"),
                 "user.shmfs.format", what="format on an element")
    # the size probe getfattr makes (buffer too small -> ERANGE)
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.getxattr.restype = ctypes.c_ssize_t
    n = libc.getxattr(m.path("x").encode(), b"user.shmfs.format", None, 0)
    eq(n, len(fmt), "getxattr size probe")
    buf = ctypes.create_string_buffer(1)
    r = libc.getxattr(m.path("x").encode(), b"user.shmfs.format", buf, 1)
    eq((r, ctypes.get_errno()), (-1, errno.ERANGE), "getxattr small buffer")


# ---------------------------------------------------------------------------
# Malformed lists


def _malformed_patterns():
    good, _ = H.cpython_list_bytes([1, "abcdef", 2.5, b"xy", None, True])
    n = 6
    meta = 8 + 8 * (n + 1)
    data_size = struct.unpack_from("q", good, 8 + 8 * n)[0]
    fmt_off = meta + data_size
    codes_off = fmt_off + 8 * n
    pats = {}

    def put(name, at, raw):
        b = bytearray(good)
        b[at:at + len(raw)] = raw
        pats[name] = bytes(b)
    pats["truncated by one"] = good[:-1]
    pats["one byte extra"] = good + b"\0"
    pats["eight zero bytes"] = b"\0" * 8
    pats["header only"] = good[:8]
    put("N huge", 0, struct.pack("q", 2 ** 62))
    put("N negative", 0, struct.pack("q", -1))
    put("N one more", 0, struct.pack("q", n + 1))
    put("N one less", 0, struct.pack("q", n - 1))
    put("offset 0 not zero", 8, struct.pack("q", 8))
    put("offset not multiple of 8", 16, struct.pack("q", 13))
    put("offsets decreasing", 24, struct.pack("q", 0))
    put("last offset beyond end", 8 + 8 * n, struct.pack("q", 2 ** 40))
    put("last offset negative", 8 + 8 * n, struct.pack("q", -8))
    put("bad format", fmt_off, b"z\0\0\0\0\0\0\0")
    put("format slot mismatch", fmt_off + 8, b"64s\0\0\0\0\0")
    put("format not NUL padded", fmt_off, b"qqqqqqqq")
    put("type code 9", codes_off, b"\x09")
    put("type code str for int", codes_off, b"\x01")
    put("None code on int", codes_off, b"\x03")
    pats["all 0xff"] = b"\xff" * len(good)
    pats["random"] = random.Random(3).randbytes(len(good))
    pats["huge N in 16 bytes"] = struct.pack("qq", 2 ** 63 - 1, 0)
    pats["16 bytes N=1"] = struct.pack("qq", 1, 0)
    return pats


@H.timeout(120)
def test_malformed_lists_are_plain_segments(m):
    pats = _malformed_patterns()
    for i, (what, data) in enumerate(pats.items()):
        H.write_file(m.shm_path("bad%d" % i), data)
    for i, (what, data) in enumerate(pats.items()):
        p = m.path("bad%d" % i)
        ok, _ = H.poll_until(lambda: os.path.isfile(p), 2)
        check(ok, "%s: not shown as a plain file (%s)" % (
            what, "folder" if os.path.isdir(p) else "missing"))
        eq(os.stat(p).st_size, len(data), what + ": size")
        eq(H.read_file(p), data, what + ": content")
        eq(os.getxattr(p, "user.shmfs.kind"), b"segment", what + ": kind")
    check(m.alive(), "daemon died on malformed lists")
    eq(len(os.listdir(m.mnt)), len(pats), "all listed")


@H.timeout(240)
def test_random_mutations_never_crash(m):
    rnd = random.Random(int(os.environ.get("SHMFS_SEED", "12345")))
    H.note("seed %s" % os.environ.get("SHMFS_SEED", "12345"))
    good, _ = H.cpython_list_bytes([1, "abcdef", 2.5, b"xy" * 9, None, True,
                                    "z" * 17, -4])
    folders = files = 0
    for k in range(300):
        b = bytearray(good)
        for _ in range(rnd.randrange(1, 4)):
            at = rnd.randrange(len(b))
            if rnd.random() < 0.5:
                b[at] = rnd.randrange(256)
            else:
                val = rnd.choice([0, 1, -1, 8, 16, 2 ** 31, 2 ** 63 - 1,
                                  len(b), rnd.randrange(-100, 100)])
                at8 = (at // 8) * 8
                if at8 + 8 <= len(b):
                    b[at8:at8 + 8] = struct.pack("q", val)
        if rnd.random() < 0.1:
            b = b[:rnd.randrange(len(b))]
        name = "mut%d" % k
        H.write_file(m.shm_path(name), bytes(b))
        p = m.path(name)
        H.poll_until(lambda: os.path.exists(p), 1)
        if os.path.isdir(p):
            folders += 1
            try:
                entries = os.listdir(p)
                os.getxattr(p, "user.shmfs.format")
            except OSError:
                entries = []
            for e in entries:
                try:
                    H.read_file(os.path.join(p, e))
                    os.getxattr(os.path.join(p, e), "user.shmfs.type")
                except OSError:
                    pass
        else:
            files += 1
            eq(H.read_file(p), bytes(b), "mutation %d content" % k)
        check(m.alive(), "daemon died on mutation %d" % k)
        os.unlink(m.shm_path(name))
    H.note("%d mutations shown as folders, %d as files" % (folders, files))


def test_list_damaged_while_mounted(m):
    values = [1, "abc", 2.5]
    data, _ = mk(m, "dmg", values)
    fd = os.open(m.path("dmg", "1"), os.O_RDONLY)      # keep one open
    with open(m.shm_path("dmg"), "r+b") as f:           # garbage N
        f.write(struct.pack("q", 2 ** 40))
    e0 = H.errno_of(H.read_file, m.path("dmg", "0"))
    H.note("cat of an element after the header was damaged: %s" % (
        "ok" if e0 is None else H.ename(e0)))
    try:
        os.read(fd, 100)
    except OSError as e:
        H.note("read on an element fd opened before the damage: %s" %
               H.ename(e.errno))
    os.close(fd)
    check(m.alive(), "daemon died reading a damaged list")
    ok, t = H.poll_until(lambda: os.path.isfile(m.path("dmg")), 2)
    check(ok, "damaged list not turned into a plain file within 2 s")
    # repair it: back to a folder
    with open(m.shm_path("dmg"), "r+b") as f:
        f.write(data[:8])
    ok, t = H.poll_until(lambda: os.path.isdir(m.path("dmg")), 2)
    check(ok, "repaired list not a folder again within 2 s")


def test_list_written_through_mount_becomes_folder(m):
    data, _ = H.cpython_list_bytes([3, "via mount"])
    fd = os.open(m.path("viam"), os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, data)
    os.close(fd)
    ok, t = H.poll_until(lambda: os.path.isdir(m.path("viam")), 1)
    check(ok, "list bytes written through the mount: not a folder")
    H.note("folder after %.1f ms" % (t * 1e3))
    eq(H.read_file(m.path("viam", "1")), b"via mount\n", "element 1")


def test_list_shrunk_to_plain(m):
    mk(m, "sh", [1, 2])
    os.truncate(m.shm_path("sh"), 8)
    ok, _ = H.poll_until(lambda: os.path.isfile(m.path("sh")), 1)
    check(ok, "list truncated directly is still a folder")
    eq(os.stat(m.path("sh")).st_size, 8, "size of the now plain segment")


if __name__ == "__main__":
    H.run(globals())
