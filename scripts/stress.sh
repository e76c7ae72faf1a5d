#!/usr/bin/env bash
# stress.sh - the load test (issue 5), longer than the CI suite runs it.
#
#   ./scripts/stress.sh [--seconds S] [--procs N] [--kill] [--valgrind]
#                       [--asan] [--seed X]
#
# Builds as scripts/test.sh does (scripts/setup.sh into build/, or with
# --asan the AddressSanitizer + UBSan build in build-asan/; BUILD_DIR=dir
# picks another), then runs tests/stress/stress.py: N worker processes
# (default 16) for S seconds (default 60) through a shmfs mount, directly in
# its shm directory and on list elements, every read checked, then the
# daemon's fds, nodes, handles, backing ids, list maps and RSS checked
# against where they started.  --kill SIGKILLs the daemon half-way (nothing
# written may be lost; a new mount must show everything).  --valgrind runs
# the daemon under valgrind memcheck (no invalid access, no definite leak;
# requests from /dev/fuse, as valgrind cannot run the io_uring threads);
# valgrind slows the daemon down many times, so its defaults are 20 s and
# 4 procs.  Prints stress.py's summary; exits with its status (0 passed,
# 1 failed, 77 FUSE not usable here).  Needs root (FUSE passthrough).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 [--seconds S] [--procs N] [--kill] [--valgrind] [--asan] [--seed X]"
}
seconds='' procs='' kill=() seed=() valgrind=0 asan=0
while [ $# -gt 0 ]; do
  case $1 in
    --seconds)
      [[ ${2:-} =~ ^[0-9]+(\.[0-9]+)?$ ]] || { usage >&2; exit 2; }
      seconds=$2
      shift ;;
    --procs)
      [[ ${2:-} =~ ^[0-9]+$ ]] && [ "$2" -ge 4 ] || { usage >&2; exit 2; }
      procs=$2
      shift ;;
    --seed)
      [ -n "${2:-}" ] || { usage >&2; exit 2; }
      seed=(--seed "$2")
      shift ;;
    --kill) kill=(--kill) ;;
    --valgrind) valgrind=1 ;;
    --asan) asan=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
if [ "$valgrind" = 1 ] && [ "$asan" = 1 ]; then
  echo "stress: --valgrind and --asan do not mix (valgrind cannot run an ASan build)" >&2
  exit 2
fi

if [ "$asan" = 1 ]; then
  export BUILD_DIR=${BUILD_DIR:-build-asan}
  ./scripts/setup.sh -Db_sanitize=address,undefined -Db_lundef=false
  # as scripts/test.sh: any report fails the run (the harness reads the
  # daemon's log; LeakSanitizer reports when the daemon exits)
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
  export BUILD_DIR=${BUILD_DIR:-build}
  ./scripts/setup.sh
fi

wrapper=()
if [ "$valgrind" = 1 ]; then
  if ! command -v valgrind >/dev/null; then
    echo "stress: installing valgrind"
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
      --no-install-recommends valgrind >/dev/null
  fi
  wrapper=(--wrapper "valgrind --error-exitcode=99 --leak-check=full \
--show-leak-kinds=definite --errors-for-leak-kinds=definite")
  seconds=${seconds:-20}
  procs=${procs:-4}
  # valgrind 3.19 does not run a thread waiting in io_uring_enter beside
  # the others: a daemon serving rings stalls under it.  memcheck checks
  # the /dev/fuse path; the ASan runs check the ring's.
  export STRESS_DAEMON_ARGS="--no-uring ${STRESS_DAEMON_ARGS:-}"
fi
seconds=${seconds:-60}
procs=${procs:-16}

export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 tests/stress/stress.py "$BUILD_DIR/fs/shmfs" \
  --seconds "$seconds" --procs "$procs" "${kill[@]}" "${seed[@]}" "${wrapper[@]}"
