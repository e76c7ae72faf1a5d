#!/usr/bin/env python3
"""Replay one fuzz target's saved inputs in any build (the meson suite
fuzz-regress): the crash inputs kept in tests/fuzz/regress/TARGET/ and the
target's seed corpus, written afresh by CPython (make_corpus.py), through
TARGET_replay (replay.c, no libFuzzer needed).

Usage: /usr/bin/python3 replay.py REPLAY_EXE TARGET REGRESS_DIR
"""
import os
import signal
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_corpus  # noqa: E402


def main():
    exe, target, regress = sys.argv[1:4]
    with tempfile.TemporaryDirectory(prefix="shmfs_replay_") as tmp:
        make_corpus.write_corpus(tmp)
        seeds = os.path.join(tmp, target)
        if not os.path.isdir(seeds):
            sys.exit("replay: make_corpus.py wrote no seeds for " + target)
        rc = subprocess.call([exe, regress, seeds])
    if rc < 0:  # abort(), a sanitizer's report, a crash
        sys.exit("replay: %s killed by %s (the input named last above)"
                 % (target, signal.Signals(-rc).name))
    sys.exit(rc)


if __name__ == "__main__":
    main()
