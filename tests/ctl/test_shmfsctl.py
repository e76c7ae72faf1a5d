#!/usr/bin/python3
"""test_shmfsctl.py - the shmfsctl command, run as a user runs it.

    test_shmfsctl.py PATH/TO/shmfsctl

Every test gets a private namespace directory (removed afterwards, even on
failure).  Tests that need the real /dev/shm use names starting with
shmfs_test_<pid>_ and remove them in a finally block.  Child processes that
map or open segments are python3 children driven over pipes, killed at
exit whatever happens.  Prints one line per test; exit status 1 if any
failed.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

CTL = None
PREFIX = "shmfs_test_%d_" % os.getpid()
NOBODY = 65534
GC_UID = 1234  # a third user, neither root nor nobody
CHILDREN = []

CHILD = r"""
import ctypes, mmap, os, sys
path, how = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDWR)
m = None
unmap = None
if how == "map":
    m = mmap.mmap(fd, os.fstat(fd).st_size)
    os.close(fd)   # mmap keeps its own descriptor
    fd = -1
elif how == "maponly":
    # A mapping and no descriptor at all: Python's mmap keeps a dup.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                          ctypes.c_int, ctypes.c_int, ctypes.c_long]
    size = os.fstat(fd).st_size
    addr = libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE,
                     mmap.MAP_SHARED, fd, 0)
    assert addr not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
    os.close(fd)
    fd = -1
    unmap = lambda: libc.munmap(ctypes.c_void_p(addr), ctypes.c_size_t(size))
print("ready", flush=True)
for line in sys.stdin:
    if m is not None:
        m.close()
        m = None
    if unmap is not None:
        unmap()
        unmap = None
    if fd >= 0:
        os.close(fd)
        fd = -1
    print("released", flush=True)
"""


def as_user(uid, gid=None):
    """The command prefix that runs a command as @uid (root only)."""
    gid = uid if gid is None else gid
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
            "--clear-groups"]


class Child:
    """A python3 process that maps ("map": mmap keeps a descriptor;
    "maponly": none is left) or only opens ("open") a file; @user: a uid to
    run as (root only)."""

    def __init__(self, path, how, user=None):
        pre = as_user(user) if user is not None else []
        self.p = subprocess.Popen(pre + [sys.executable, "-c", CHILD, path,
                                         how],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        CHILDREN.append(self.p)
        assert self.p.stdout.readline().strip() == "ready"
        self.pid = self.p.pid

    def release(self):
        self.p.stdin.write("release\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == "released"

    def stop(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)


def ctl(*args, rc=0, stdin=None, user=None):
    """Run shmfsctl (as uid @user if given); check its exit status; return
    (stdout, stderr)."""
    pre = as_user(user) if user is not None else []
    r = subprocess.run(pre + [CTL] + list(args), capture_output=True,
                       input=stdin, timeout=30)
    out, err = r.stdout.decode("utf-8", "surrogateescape"), \
        r.stderr.decode("utf-8", "surrogateescape")
    if rc is not None and r.returncode != rc:
        raise AssertionError("shmfsctl %s: exit %d, expected %d\nstdout: %s\n"
                             "stderr: %s" % (" ".join(args), r.returncode, rc,
                                             out, err))
    return out, err


def make(d, name, size=8192, data=None):
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.truncate(size)
        if data:
            f.write(data)
    return path


def age(path, secs):
    """Make @path look @secs old: mtime back; ctime can only be waited for,
    so tests sleep past the short thresholds they use."""
    t = time.time() - secs
    os.utime(path, (t, t))


# --- help and usage --------------------------------------------------------

SUBCOMMANDS = [["ls"], ["who"], ["orphans"], ["gc"], ["metrics"], ["list"],
               ["list", "show"], ["list", "get"], ["list", "set"],
               ["list", "new"], ["list", "format"]]


def test_help(d):
    out, _ = ctl("--help")
    assert out.startswith("usage: shmfsctl")
    for sub in SUBCOMMANDS:
        for flag in ("--help", "-h"):
            out, _ = ctl(*sub, flag)
            assert out.startswith("usage: shmfsctl " + " ".join(sub)), out
    out, _ = ctl("--version")
    assert out.startswith("shmfsctl ")


def test_usage_errors(d):
    _, err = ctl(rc=2)
    assert "usage" in err
    _, err = ctl("frobnicate", rc=2)
    assert 'unknown command "frobnicate"' in err
    _, err = ctl("ls", "--frob", rc=2)
    assert "unknown option '--frob'" in err
    ctl("ls", "-x", rc=2)
    ctl("ls", "extra", "--dir", d, rc=2)
    _, err = ctl("who", "--dir", d, rc=2)
    assert "missing argument" in err
    ctl("who", "a", "b", "--dir", d, rc=2)
    _, err = ctl("list", rc=2)
    _, err = ctl("list", "frob", rc=2)
    assert 'unknown subcommand "frob"' in err
    for bad in ("5x", "", "h", "1h30", "-5", "99999999999999999999d",
                "106751991167301d", "0h30", "1d1d", "5m1h", "1s1m", "1x"):
        _, err = ctl("gc", "--older-than", bad, "--dir", d, rc=2)
        assert "invalid duration" in err, err
        ctl("orphans", "--older-than=" + bad, "--dir", d, rc=2)
    ctl("gc", "--older-than", rc=2)
    ctl("ls", "--json=yes", "--dir", d, rc=2)
    ctl("list", "new", "--str", "--bytes", "x", "--dir", d, rc=2)
    ctl("list", "new", "--mode", "999", "x", "--dir", d, rc=2)
    # A missing directory is not a usage error.
    _, err = ctl("ls", "--dir", d + "/nonexistent", rc=1)
    assert "cannot open directory" in err and "no such file" in err, err
    # The largest duration that fits is fine.
    ctl("gc", "--older-than", "106751991167300d", "--dry-run", "--dir", d)
    ctl("orphans", "--older-than", "1d2h3m4s", "--dir", d)
    # --dir before the command works as well as after it.
    ctl("--dir", d, "ls")
    ctl("--dir=" + d, "ls")
    _, err = ctl("--dir", rc=2)
    assert "option '--dir' needs an argument" in err, err
    _, err = ctl("list", "--dir", rc=2)
    assert "needs an argument" in err, err
    # Names are shown whole in messages, however long.
    _, err = ctl("who", "x" * 300, "--dir", d, rc=1)
    assert '"' + "x" * 300 + '"' in err, err


# --- who ---------------------------------------------------------------------

def who_pids(d, name):
    out, _ = ctl("who", name, "--json", "--dir", d)
    doc = json.loads(out)
    assert doc["name"] == name
    return {u["pid"]: u for u in doc["users"]}


def test_who(d):
    path = make(d, "seg", 3 * 4096)
    c = Child(path, "map")
    try:
        users = who_pids(d, "seg")
        assert c.pid in users, users
        u = users[c.pid]
        assert u["mapped"] == 3 * 4096 and u["maps"] == 1, u
        assert u["comm"].startswith("python3"), u
        out, _ = ctl("who", "seg", "--dir", d)
        assert out.splitlines()[0].split() == ["PID", "COMMAND", "MAPPED",
                                               "MAPS", "FDS"]
        assert any(line.split()[0] == str(c.pid)
                   for line in out.splitlines()[1:]), out
        out, _ = ctl("ls", "--dir", d)
        row = [line.split() for line in out.splitlines() if
               line.startswith("seg ")][0]
        assert row == ["seg", "segment", str(3 * 4096), "1"], row
        c.release()
        assert c.pid not in who_pids(d, "seg")
    finally:
        c.stop()
    _, err = ctl("who", "missing", "--dir", d, rc=1)
    assert err.startswith('shmfsctl: cannot inspect segment "missing": '
                          'no such file or directory'), err
    _, err = ctl("who", "a/b", "--dir", d, rc=1)
    assert '"a/b"' in err


def test_who_default_dir(d):
    """The real /dev/shm, as Python's SharedMemory uses it."""
    from multiprocessing import shared_memory, resource_tracker
    name = PREFIX + "who"
    shm = shared_memory.SharedMemory(name=name, create=True, size=4096)
    try:
        out, _ = ctl("who", name, "--json")
        pids = [u["pid"] for u in json.loads(out)["users"]]
        assert os.getpid() in pids, pids
        out, _ = ctl("ls", "--json")
        names = [s["name"] for s in json.loads(out)["segments"]]
        assert name in names
    finally:
        shm.close()
        shm.unlink()
    ctl("who", name, rc=1)


# --- orphans and gc ----------------------------------------------------------

def test_orphans_and_gc(d):
    old = make(d, "old", 4096)
    mapped = make(d, "mapped", 8192)
    opened = make(d, "opened", 8192)
    for p in (old, mapped, opened):
        age(p, 3600)
    cm = Child(mapped, "map")
    co = Child(opened, "open")
    try:
        time.sleep(2.1)  # ctime cannot be set back: wait past --older-than 2s
        make(d, "young", 4096)

        out, _ = ctl("orphans", "--json", "--dir", d)
        names = {s["name"]: s for s in json.loads(out)["orphans"]}
        assert set(names) == {"old", "young"}, names
        assert names["old"]["age_seconds"] >= 2
        out, _ = ctl("orphans", "--older-than", "2s", "--dir", d)
        rows = [line.split()[0] for line in out.splitlines()[1:]]
        assert rows == ["old"], out

        out, _ = ctl("gc", "--older-than", "2s", "--dry-run", "--dir", d)
        assert 'would remove "old" (4096 bytes' in out, out
        assert os.path.exists(old)

        out, _ = ctl("gc", "--older-than", "2s", "--dir", d)
        assert 'removed "old" (4096 bytes' in out, out
        assert "removed 1 segment, 4096 bytes" in out, out
        assert not os.path.exists(old)
        for p in (mapped, opened, os.path.join(d, "young")):
            assert os.path.exists(p), p

        # With no age limit only unused ones go, whatever their age.
        out, _ = ctl("gc", "--dir", d)
        assert 'removed "young"' in out
        assert os.path.exists(mapped) and os.path.exists(opened)

        # Once released they are orphans too.
        cm.release()
        co.release()
        out, _ = ctl("gc", "--older-than", "2s", "--dir", d)
        assert sorted(re.findall(r'removed "(\w+)"', out)) == \
            ["mapped", "opened"], out
    finally:
        cm.stop()
        co.stop()
    out, _ = ctl("gc", "--dir", d)
    assert "removed 0 segments, 0 bytes" in out


def test_gc_refused(d):
    """A segment gc may not remove is reported, exit status 1.  Root may
    unlink anything, so as root the command runs as nobody."""
    user = NOBODY if os.geteuid() == 0 else None
    os.chmod(d, 0o711)
    sub = os.path.join(d, "ro")
    os.mkdir(sub)
    make(sub, "x", 10)
    os.chmod(os.path.join(sub, "x"), 0o600)
    if user is not None:
        os.chown(sub, user, user)
        os.chown(os.path.join(sub, "x"), user, user)
    os.chmod(sub, 0o500)
    try:
        _, err = ctl("gc", "--dir", sub, rc=1, user=user)
        assert 'cannot remove segment "x": permission denied' in err, err
        assert os.path.exists(os.path.join(sub, "x"))
    finally:
        os.chmod(sub, 0o700)


def test_gc_uninspectable(d):
    """gc (uid 1234) keeps a segment that a process it cannot inspect
    (nobody's) maps and could open, and exits 1; --force removes it."""
    if os.geteuid() != 0:
        print("     (skipped: needs root to run processes as other users)")
        return
    os.chmod(d, 0o755)
    pub = os.path.join(d, "pub")
    os.mkdir(pub)
    os.chmod(pub, 0o1777)

    def shared(name):
        path = make(pub, name, 8192)
        os.chown(path, GC_UID, NOBODY)  # nobody may open it: group rw
        os.chmod(path, 0o660)
        return path

    seg = shared("seg")
    c = Child(seg, "maponly", user=NOBODY)
    try:
        out, err = ctl("gc", "--dir", pub, rc=1, user=GC_UID)
        assert 'kept "seg": 1 process that could not be inspected could use ' \
            'it' in out, out
        assert "gc refused 1 segment" in err and "--force" in err, err
        assert os.path.exists(seg)
        out, _ = ctl("gc", "--dry-run", "--dir", pub, rc=1, user=GC_UID)
        assert 'would keep "seg"' in out, out
        # Root sees the mapping: kept, and no refusal.
        out, _ = ctl("gc", "--dir", pub)
        assert "removed 0 segments" in out, out
        out, _ = ctl("gc", "--force", "--dir", pub, user=GC_UID)
        assert 'removed "seg"' in out, out
        assert not os.path.exists(seg)
    finally:
        c.stop()
    # Once nobody's process is gone, nothing keeps a new one.
    seg = shared("seg2")
    out, _ = ctl("gc", "--dir", pub, user=GC_UID)
    assert 'removed "seg2"' in out, out


def test_maps_only(d):
    """A process that maps a segment and holds no descriptor at all."""
    path = make(d, "m", 8192)
    c = Child(path, "maponly")
    try:
        u = who_pids(d, "m")[c.pid]
        assert u["maps"] == 1 and u["fds"] == 0 and u["mapped"] == 8192, u
        out, _ = ctl("gc", "--dir", d)
        assert "removed 0 segments" in out, out
        assert os.path.exists(path)
        c.release()
        assert c.pid not in who_pids(d, "m")
    finally:
        c.stop()


# --- ls and JSON -----------------------------------------------------------------

def test_ls_json_escapes(d):
    raw = [b"plain", b"we\x01ird\xff\"q\\", "caf\u00e9".encode(), b"new\nline"]
    for r in raw:
        make(os.fsencode(d), r, 100)
    out, _ = ctl("ls", "--json", "--dir", d)
    subprocess.run([sys.executable, "-m", "json.tool"], input=out.encode(),
                   check=True, capture_output=True)
    doc = json.loads(out)
    got = sorted(s["name"].encode("utf-8", "surrogateescape")
                 for s in doc["segments"])
    assert got == sorted(raw), got
    for s in doc["segments"]:
        assert s["kind"] == "segment" and s["size"] == 100
        path = os.path.join(os.fsencode(d),
                            s["name"].encode("utf-8", "surrogateescape"))
        assert s["mode"] == "%04o" % (os.stat(path).st_mode & 0o7777), s
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s["modified"])
        assert s["processes"] == 0
    assert doc["processes"]["scanned"] > 0
    # Tables escape what a terminal would act on.
    out, _ = ctl("ls", "-l", "--dir", d)
    assert "new\\nline" in out and "we\\x01ird\\xff" in out, out
    assert "café" in out
    assert out.splitlines()[0].split() == ["NAME", "KIND", "SIZE", "OWNER",
                                           "MODE", "MODIFIED", "PROCS"]
    out, _ = ctl("ls", "--dir", d + "/")
    assert len(out.splitlines()) == 1 + len(raw)


def test_ls_empty(d):
    out, _ = ctl("ls", "--dir", d)
    assert out.split() == ["NAME", "KIND", "SIZE", "PROCS"]
    doc = json.loads(ctl("ls", "--json", "--dir", d)[0])
    assert doc["segments"] == [] and doc["dir"] == d
    doc = json.loads(ctl("orphans", "--json", "--dir", d)[0])
    assert doc["orphans"] == []


# --- metrics ---------------------------------------------------------------

NAME_RE = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
SAMPLE_RE = re.compile(r"^(%s)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$" % NAME_RE)


def parse_prometheus(text):
    """Strict parse of the text exposition format 0.0.4; returns
    {(name, frozenset(labels)): value} and {name: type}."""
    assert text.endswith("\n"), "no final newline"
    samples, types, helps, done = {}, {}, set(), set()
    current = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d: %r" % (n, line)
        assert line, where + ": empty line"
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (%s) (.*)" % NAME_RE, line)
            if not m:
                assert not line.startswith(("# HELP", "# TYPE")), where
                continue
            kind, name, rest = m.groups()
            assert name not in done, where + ": family split"
            if kind == "TYPE":
                assert name not in types, where + ": second TYPE"
                assert rest in ("counter", "gauge", "histogram", "summary",
                                "untyped"), where
                assert not any(k[0] == name for k in samples), \
                    where + ": TYPE after samples"
                types[name] = rest
            else:
                assert name not in helps, where + ": second HELP"
                helps.add(name)
            continue
        m = SAMPLE_RE.match(line)
        assert m, where + ": not a sample"
        name, labels, value, _ = m.groups()
        if current and current != name:
            done.add(current)
        assert name not in done, where + ": family split"
        current = name
        pairs = {}
        if labels:
            pos = 0
            while pos < len(labels):
                lm = LABEL_RE.match(labels, pos)
                assert lm, where + ": bad label"
                assert lm.group(1) not in pairs, where + ": duplicate label"
                pairs[lm.group(1)] = lm.group(2)
                pos = lm.end()
                if pos < len(labels):
                    assert labels[pos] == ",", where + ": bad label list"
                    pos += 1
        v = float(value) if value not in ("+Inf", "-Inf", "NaN") else value
        key = (name, frozenset(pairs.items()))
        assert key not in samples, where + ": duplicate sample"
        samples[key] = v
    return samples, types


def test_metrics(d):
    ctl("list", "new", "--name", "lst", "1", "2", "--dir", d)
    make(d, "plain", 4096)
    used = make(d, "used", 8192)
    c = Child(used, "map")
    try:
        out, _ = ctl("metrics", "--dir", d)
    finally:
        c.stop()
    samples, types = parse_prometheus(out)

    def get(name, **labels):
        labels["dir"] = d
        return samples[(name, frozenset(labels.items()))]

    for name in ("shmfs_segments", "shmfs_segment_bytes",
                 "shmfs_orphan_segments", "shmfs_orphan_bytes",
                 "shmfs_attached_processes", "shmfs_scan_processes",
                 "shmfs_scan_duration_seconds"):
        assert types[name] == "gauge", name
    assert get("shmfs_segments", kind="list") == 1
    assert get("shmfs_segments", kind="segment") == 2
    assert get("shmfs_segments", kind="unknown") == 0
    lst_size = os.path.getsize(os.path.join(d, "lst"))
    assert get("shmfs_segment_bytes", kind="list") == lst_size
    assert get("shmfs_segment_bytes", kind="segment") == 4096 + 8192
    assert get("shmfs_orphan_segments") == 2
    assert get("shmfs_orphan_bytes") == lst_size + 4096
    assert get("shmfs_attached_processes") == 1
    assert get("shmfs_scan_processes", outcome="read") > 0
    assert 0 <= get("shmfs_scan_duration_seconds") < 30
    # The strict parser does reject what it should.
    for bad in ("x 1", "# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n",
                "x{a=1} 1\n", "x 1\ny 2\nx 3\n", "x one\n"):
        try:
            parse_prometheus(bad)
        except (AssertionError, ValueError):
            continue
        raise AssertionError("parser accepted %r" % bad)
    # A directory label that needs escaping.
    odd = os.path.join(d, 'q"\\\nx')
    os.mkdir(odd)
    samples, _ = parse_prometheus(ctl("metrics", "--dir", odd)[0])
    assert samples[("shmfs_segments",
                    frozenset({"dir": d + '/q\\"\\\\\\nx', "kind": "list"}
                              .items()))] == 0


# --- list ----------------------------------------------------------------------

def test_list_new_show_get_set(d):
    out, _ = ctl("list", "new", "--name", "l", "42", "2.5", "True", "None",
                 "hello", "-7", "1e3", "--dir", d)
    assert out == "l\n"
    out, _ = ctl("list", "format", "l", "--dir", d)
    assert out == "qdxxxxxxx?xxxxxx?x8sqd\n", out
    expect = ["42\n", "2.5\n", "True\n", "None\n", "hello\n", "-7\n",
              "1000.0\n"]
    for i, text in enumerate(expect):
        assert ctl("list", "get", "l", str(i), "--dir", d)[0] == text
    out, _ = ctl("list", "show", "l", "--dir", d)
    rows = [line.split(None, 2) for line in out.splitlines()]
    assert rows[0] == ["INDEX", "TYPE", "VALUE"]
    assert rows[1:] == [["0", "int", "42"], ["1", "float", "2.5"],
                        ["2", "bool", "True"], ["3", "None", "None"],
                        ["4", "str", "hello"], ["5", "int", "-7"],
                        ["6", "float", "1000.0"]], rows

    ctl("list", "set", "l", "0", "-5", "--dir", d)
    assert ctl("list", "get", "l", "0", "--dir", d)[0] == "-5\n"
    ctl("list", "set", "l", "1", "0.1\n", "--dir", d)  # one newline dropped
    assert ctl("list", "get", "l", "1", "--dir", d)[0] == "0.1\n"
    ctl("list", "set", "l", "4", "héllo", "--dir", d)
    assert ctl("list", "get", "l", "4", "--dir", d)[0] == "héllo\n"
    ctl("list", "set", "--dir", d, "l", "2", "--", "False")
    assert ctl("list", "get", "l", "2", "--dir", d)[0] == "False\n"

    # Errors name the list and the reason.
    _, err = ctl("list", "set", "l", "0", "abc", "--dir", d, rc=1)
    assert err.startswith('shmfsctl: cannot set element 0 of list "l": '
                          '"abc" is not a valid int'), err
    _, err = ctl("list", "set", "l", "0", "99999999999999999999", "--dir", d,
                 rc=1)
    assert "out of range for int" in err
    _, err = ctl("list", "set", "l", "4", "far too long for the slot",
                 "--dir", d, rc=1)
    assert "does not fit" in err
    _, err = ctl("list", "get", "l", "7", "--dir", d, rc=1)
    assert 'list "l" has no element 7 (it has 7)' in err, err
    _, err = ctl("list", "get", "l", "x", "--dir", d, rc=2)
    assert 'invalid index "x"' in err
    ctl("list", "get", "l", "-1", "--dir", d, rc=2)
    _, err = ctl("list", "get", "nope", "0", "--dir", d, rc=1)
    assert err.startswith('shmfsctl: cannot open list "nope": no such file'), \
        err
    make(d, "plain", 100)
    _, err = ctl("list", "show", "plain", "--dir", d, rc=1)
    assert 'segment "plain" is not a list' in err, err
    ctl("list", "get", "l", "--dir", d, rc=2)
    _, err = ctl("list", "new", "--name", "l", "1", "--dir", d, rc=1)
    assert 'cannot create list "l": file exists' in err, err
    _, err = ctl("list", "new", "--name", "a/b", "1", "--dir", d, rc=1)
    assert 'cannot create list "a/b": invalid argument' in err, err
    # TEXT is a value even when it looks like an option.
    ctl("list", "new", "--name", "t", "--str", "xxxxxx", "--dir", d)
    for text in ("-h", "--x", "-"):
        ctl("list", "set", "t", "0", text, "--dir", d)
        assert ctl("list", "get", "t", "0", "--dir", d)[0] == text + "\n"
    # Options before the list subcommand, as before any command.
    out, _ = ctl("list", "--dir", d, "show", "t")
    assert out.splitlines()[1].split() == ["0", "str", "-"], out
    ctl("list", "--dir=" + d, "get", "t", "0")
    ctl("list", "--frob", "show", "t", rc=2)


def test_list_new_forced_types(d):
    ctl("list", "new", "--name", "s", "--str", "42", "None", "--dir", d)
    out, _ = ctl("list", "show", "s", "--dir", d)
    assert [r.split()[1] for r in out.splitlines()[1:]] == ["str", "str"]
    ctl("list", "new", "--name", "b", "--bytes", "ab", "--dir", d)
    assert ctl("list", "get", "b", "0", "--dir", d)[0] == "ab"  # raw
    out, _ = ctl("list", "show", "b", "--dir", d)
    assert out.splitlines()[1].split() == ["0", "bytes", '"ab"'], out
    out, _ = ctl("list", "new", "--dir", d)  # empty list, generated name
    name = out.strip()
    assert re.fullmatch(r"psm_[0-9a-f]{8}", name), name
    assert os.path.getsize(os.path.join(d, name)) == 16
    ctl("list", "new", "--name", "m", "--mode", "0640", "1", "--dir", d)
    assert os.stat(os.path.join(d, "m")).st_mode & 0o777 == 0o640
    _, err = ctl("list", "new", "--name", "bad", b"\xff".decode(
        "utf-8", "surrogateescape"), "--dir", d, rc=1)
    assert "not valid UTF-8" in err
    _, err = ctl("list", "new", "--name", "bad", "1e999", "--dir", d, rc=1)
    assert 'cannot use value 0, "1e999": out of range for float' in err, err
    _, err = ctl("list", "new", "--name", "bad", "1", "99999999999999999999",
                 "--dir", d, rc=1)
    assert "value 1, \"99999999999999999999\": out of range for int" in err, \
        err
    # One trailing newline of a VALUE is dropped, as in element files.
    ctl("list", "new", "--name", "nl", "a\n", "--dir", d)
    assert ctl("list", "get", "nl", "0", "--dir", d)[0] == "a\n"


def test_list_python_interop(d):
    """A list made by shmfsctl in /dev/shm reads back in CPython."""
    from multiprocessing import shared_memory, resource_tracker
    name = PREFIX + "list"
    try:
        ctl("list", "new", "--name", name, "42", "2.5", "True", "None", "hi")
        sl = shared_memory.ShareableList(name=name)
        try:
            assert list(sl) == [42, 2.5, True, None, "hi"], list(sl)
            sl[0] = 7
        finally:
            sl.shm.close()
            # Attaching registered it with the resource tracker (3.8-3.12).
            try:
                resource_tracker.unregister("/" + name, "shared_memory")
            except Exception:
                pass
        assert ctl("list", "get", name, "0")[0] == "7\n"
    finally:
        try:
            os.unlink("/dev/shm/" + name)
        except FileNotFoundError:
            pass


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


def main():
    global CTL
    if len(sys.argv) != 2:
        sys.exit("usage: test_shmfsctl.py PATH/TO/shmfsctl")
    CTL = os.path.abspath(sys.argv[1])
    failed = 0
    for t in TESTS:
        d = tempfile.mkdtemp(prefix="shmfsctl-test-")
        start = time.monotonic()
        try:
            t(d)
            print("ok   %-28s %.2fs" % (t.__name__, time.monotonic() - start))
        except Exception:
            failed += 1
            print("FAIL %s" % t.__name__)
            traceback.print_exc()
        finally:
            for p in CHILDREN:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            CHILDREN.clear()
            shutil.rmtree(d, ignore_errors=True)
    for f in os.listdir("/dev/shm"):
        if f.startswith(PREFIX):
            os.unlink("/dev/shm/" + f)
    print("%d tests, %d failed" % (len(TESTS), failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
