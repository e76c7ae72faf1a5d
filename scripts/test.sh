#!/usr/bin/env bash
# test.sh - install, build and run every test suite: once in build/, again
# under AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/, then
# builds everything with clang in build-fuzz/, runs the unit tests there and
# the libFuzzer targets for a bounded time, and quick smoke runs of the
# benchmarks (the filesystem one mounts shmfs and passthrough_ll).
# Exits non-zero on any failure.
#
#   FUZZ_SECONDS   seconds per fuzz target (default 20; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
# Any sanitizer report fails the test that printed it.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

section() { printf '\n=== %s ===\n' "$*"; }

section "build (gcc)"
./scripts/setup.sh

section "tests"
meson test -C build --print-errorlogs

section "install and README example"
./tests/install/test_install.sh build

section "tests under ASan+UBSan"
BUILD_DIR=build-asan ./scripts/setup.sh -Db_sanitize=address,undefined -Db_lundef=false
meson test -C build-asan --print-errorlogs

section "build (gcc -O3, release): warnings that only optimisation shows"
BUILD_DIR=build-release ./scripts/setup.sh -Dbuildtype=release

section "build (clang, with the fuzz targets) and unit tests"
./scripts/fuzz.sh --build build-fuzz --seconds 0
meson test -C build-fuzz --suite unit --print-errorlogs

if [ "$FUZZ_SECONDS" -gt 0 ]; then
  section "fuzz (${FUZZ_SECONDS}s per target)"
  ./scripts/fuzz.sh --build build-fuzz --seconds "$FUZZ_SECONDS"
fi

section "benchmark smoke runs"
./build/tests/bench/bench_list --quick
./build/tests/bench/bench_inspect --quick
./scripts/bench.sh --quick

section "all tests passed"
# One closing line over every meson test run above (gcc, ASan, clang).
/usr/bin/python3 - build build-asan build-fuzz <<'PY'
import json, sys
ok = bad = 0
for d in sys.argv[1:]:
    for line in open(d + "/meson-logs/testlog.json"):
        r = json.loads(line).get("result")
        ok += r == "OK"
        bad += r not in ("OK", "SKIP")
print("meson: %d passed, %d failed" % (ok, bad))
PY
