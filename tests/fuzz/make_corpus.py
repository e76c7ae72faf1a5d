#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, written into DIR/fuzz_list,
DIR/fuzz_parse and DIR/fuzz_view: ShareableLists as CPython lays them out
(made with CPython itself, copied, and unlinked at once), element texts of
every type, and those lists again in fuzz_view's input format (see
fuzz_view.c) with a few stores each.

Usage: /usr/bin/python3 make_corpus.py DIR
"""
import hashlib
import os
import struct
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


# fuzz_view's input header: flags (bit 0: read-only), element index, text
# length, as struct "<BHH".
VIEW_HEADER = "<BHH"
VIEW_RDONLY = 1


def save(folder, data):
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def type_code(value):
    """The element type as fuzz_parse's first byte and TEXTS number it
    (enum shmseg_type's order)."""
    if value is None:
        return 5
    for code, kind in ((2, bool), (0, int), (1, float), (3, str)):
        if isinstance(value, kind):
            return code
    return 4


def view_input(flags, index, text, segment):
    return struct.pack(VIEW_HEADER, flags, index, len(text)) + text + segment


def view_inputs(values, segment):
    """fuzz_view inputs around one list: at its first, middle and last
    element every text TEXTS has for the element's type (valid or not), and
    one store each that is read-only, past the end, and too long for any
    slot."""
    n = len(values)
    for i in sorted({0, n // 2, n - 1}) if n else []:
        for text in TEXTS[type_code(values[i])]:
            yield view_input(0, i, text, segment)
    yield view_input(VIEW_RDONLY, 0, b"1\n", segment)
    yield view_input(0, n, b"1\n", segment)
    yield view_input(0, 0, b"x" * 40 + b"\n", segment)


def write_corpus(out):
    prefix = "shmfs_corpus_%d_" % os.getpid()
    for i, values in enumerate(LISTS):
        sl = ShareableList(values, name=prefix + str(i))
        try:
            segment = bytes(sl.shm.buf)
        finally:
            sl.shm.close()
            sl.shm.unlink()
        save(os.path.join(out, "fuzz_list"), segment)
        for data in view_inputs(values, segment):
            save(os.path.join(out, "fuzz_view"), data)
    for code, texts in TEXTS.items():
        for t in texts:
            save(os.path.join(out, "fuzz_parse"), bytes([code]) + t)


def main():
    write_corpus(sys.argv[1])


if __name__ == "__main__":
    main()
