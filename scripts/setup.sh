#!/usr/bin/env bash
# setup.sh - install what is missing (apt-get), configure once, compile.
#
# Idempotent and quiet when there is nothing to do.  Builds into build/
# (override with BUILD_DIR).  Extra arguments go to the first `meson setup`.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
PACKAGES=(
  build-essential clang libclang-rt-dev   # gcc and clang (libFuzzer, sanitizers)
  meson ninja-build pkg-config
  libfuse3-dev fuse3 liburing-dev libcmocka-dev attr
  python3 python3-numpy
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# FUSE over io_uring (kernel 6.14+) is off in the fuse module unless
# turned on; shmfs serves requests through it when it is on (shmfs(8),
# "Transport").  Root only; SHMFS_NO_URING=1 leaves the setting alone.
uring=/sys/module/fuse/parameters/enable_uring
[ -e /sys/module/fuse ] || modprobe fuse 2>/dev/null || true
if [ "${SHMFS_NO_URING:-}" != 1 ] && [ -w "$uring" ] &&
  [ "$(cat "$uring")" = N ]; then
  echo Y >"$uring"
  echo "setup: turned on FUSE over io_uring ($uring)"
fi

# Show meson's and the compiler's output only when something fails.  A
# directory without build.ninja is a set-up that failed halfway: redo it.
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  rm -rf "$BUILD_DIR"
  if ! out=$(meson setup "$BUILD_DIR" "$@" 2>&1); then
    printf '%s\n' "$out"
    echo "setup: meson setup failed in $BUILD_DIR" >&2
    exit 1
  fi
fi

if ! out=$(meson compile -C "$BUILD_DIR" 2>&1); then
  printf '%s\n' "$out"
  echo "setup: build failed in $BUILD_DIR" >&2
  exit 1
fi
