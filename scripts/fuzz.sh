#!/usr/bin/env bash
# fuzz.sh - run every libFuzzer target for a bounded time.
#
#   ./scripts/fuzz.sh [--build DIR] [--seconds N]
#
# Builds DIR (default build-fuzz, clang, ASan+UBSan; quiet when up to date),
# seeds each target's corpus (lists written by CPython, element texts), runs
# each target for N seconds (default 600) and prints the executions it ran,
# its corpus size and coverage.  --seconds 0 only builds.  Crashes are saved
# as tests/fuzz/crashes/<target>-*; a crash fails the run.  Once understood
# and fixed, keep the input in tests/fuzz/regress/<target>/: every build
# replays those (meson test --suite fuzz-regress).
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-fuzz
seconds=600
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--seconds N]" >&2; exit 2 ;;
  esac
done

CC=clang BUILD_DIR=$build ./scripts/setup.sh -Dfuzz=true \
  -Db_sanitize=address,undefined -Db_lundef=false
[ "$seconds" -gt 0 ] || exit 0

corpus=$build/fuzz-corpus
mkdir -p "$corpus" tests/fuzz/crashes
/usr/bin/python3 tests/fuzz/make_corpus.py "$corpus"

# UBSan only reports and carries on unless told to stop: undefined behaviour
# must count as a crash.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

status=0
for target in fuzz_list fuzz_parse fuzz_view; do
  mkdir -p "$corpus/$target.work"
  log=$build/$target.log
  if ! "$build/tests/fuzz/$target" -max_total_time="$seconds" \
      -print_final_stats=1 -artifact_prefix="tests/fuzz/crashes/$target-" \
      "$corpus/$target.work" "$corpus/$target" >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: $target FAILED (input saved under tests/fuzz/crashes/)"
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  # libFuzzer's last status line: "#N DONE cov: C ft: F corp: U/Bb ...".
  corp=$(sed -n 's/.*DONE .*corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' "$log")
  cov=$(sed -n 's/.*DONE .*cov: \([0-9]*\).*/\1/p' "$log")
  echo "fuzz: $target ran ${execs:-?} executions in ${seconds}s," \
    "corpus ${corp:-?} (inputs/size), coverage ${cov:-?}"
done
exit $status
