#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, written into DIR/fuzz_list and
DIR/fuzz_parse: ShareableLists as CPython lays them out (made with CPython
itself, copied, and unlinked at once), and element texts of every type.

Usage: /usr/bin/python3 make_corpus.py DIR
"""
import hashlib
import os
import sys
from multiprocessing.shared_memory import ShareableList

LISTS = [
    [],
    [0],
    [1, 2.5, "hello", None, True, b"\x00raw\xff"],
    ["", b"", "12345678", "x" * 20, False],
    [-(2**63), 2**63 - 1, float("inf"), float("-inf"), float("nan"), -0.0],
    [5e-324, 1e16, 1e-5, 0.1],
    ["a\x00b", b"\x00\x00", "\u00e9t\u00e9"],
    list(range(40)),
]

TEXTS = {
    0: [b"42", b"-9223372036854775808\n", b"+7", b"12abc"],
    1: [b"2.5", b"-0.0\n", b"1e+16", b"nan", b"-inf", b"1e-05", b"0x1p3"],
    2: [b"True\n", b"False"],
    3: [b"hello\n", b"\xc3\xa9\n", b"\xff"],
    4: [b"\x00\x01\n", b""],
    5: [b"None\n"],
}


def save(folder, data):
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    out = sys.argv[1]
    prefix = "shmfs_corpus_%d_" % os.getpid()
    for i, values in enumerate(LISTS):
        sl = ShareableList(values, name=prefix + str(i))
        try:
            save(os.path.join(out, "fuzz_list"), bytes(sl.shm.buf))
        finally:
            sl.shm.close()
            sl.shm.unlink()
    for code, texts in TEXTS.items():
        for t in texts:
            save(os.path.join(out, "fuzz_parse"), bytes([code]) + t)


if __name__ == "__main__":
    main()
