#!/usr/bin/python3
"""Checks libshmseg's float text against Python's repr() on random doubles.

Usage: test_float_repr.py FLOAT_REPR_CHECK

Feeds "HEX16 REPR" lines to the checker: 100,000 random bit patterns,
100,000 random magnitudes over the whole exponent range, numbers with few
digits, every power of two (both signs) and the edge cases (zeros,
subnormals, the 1e16 and 1e-4 notation boundaries and their neighbours,
inf, nan).  The random seed is printed; SHMFS_SEED=<n> repeats a run.
"""
import math
import os
import random
import struct
import subprocess
import sys

COUNT = 100_000


def bits_of(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def of_bits(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def neighbours(x):
    return [math.nextafter(x, -math.inf), x, math.nextafter(x, math.inf)]


def edge_cases():
    xs = [0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan,
          5e-324, -5e-324, 2.2250738585072009e-308, 2.2250738585072014e-308,
          1.7976931348623157e308, 0.1, 0.2, 0.3, 1 / 3, 2 / 3, 1e23,
          9007199254740993.0, 123456789012345678.0, 0.5, 1.5, 100.0]
    for base in (1e16, 1e-4, 1e-5, 1e15, 1e22, 1e-308, 5e-324 * 2**52):
        for x in neighbours(base):
            xs += [x, -x]
    for k in range(-330, 311):
        for x in neighbours(float(f"1e{k}")):
            xs.append(x)
    for k in range(-1074, 1024):
        xs += [math.ldexp(1.0, k), -math.ldexp(1.0, k)]
    xs += [float(i) for i in range(-1000, 1001)]
    return xs


def random_cases(rng):
    xs = [of_bits(rng.getrandbits(64)) for _ in range(COUNT)]
    xs += [float(f"{rng.uniform(1, 10):.17g}e{rng.randint(-325, 308)}")
           for _ in range(COUNT)]
    # Short decimals: the cases where shortest digits matter most.
    xs += [round(rng.uniform(-1e6, 1e6), rng.randint(0, 8))
           for _ in range(COUNT // 10)]
    # Subnormals.
    xs += [of_bits(rng.getrandbits(52)) for _ in range(COUNT // 10)]
    return xs


def main():
    checker = sys.argv[1]
    seed = int(os.environ.get("SHMFS_SEED", random.randrange(2**32)))
    print(f"seed {seed} (set SHMFS_SEED={seed} to repeat)")
    rng = random.Random(seed)
    xs = edge_cases() + random_cases(rng)
    text = "".join(f"{bits_of(x):016x} {x!r}\n" for x in xs)
    res = subprocess.run([checker], input=text, capture_output=True,
                         text=True)
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    summary = res.stdout.strip().splitlines()[-1:] or [""]
    want = f"float_repr: {len(xs)} passed, 0 failed"
    if res.returncode != 0 or summary[0] != want:
        print(f"expected '{want}'", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
