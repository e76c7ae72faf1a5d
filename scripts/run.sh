#!/usr/bin/env bash
# run.sh - install what is missing, build, and mount /dev/shm with shmfs.
#
#   ./scripts/run.sh [MOUNTPOINT]
#
# MOUNTPOINT defaults to /run/shmfs as root (mounted with allow_other, so
# every user sees it, with the kernel checking each one's permissions), and
# to $XDG_RUNTIME_DIR/shmfs (or ~/shmfs) otherwise.  SHM_DIR changes the
# namespace directory (default /dev/shm).  The daemon runs in the background;
# the script prints how to unmount it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

BUILD_DIR=${BUILD_DIR:-build}
SHM_DIR=${SHM_DIR:-/dev/shm}
opts=()
if [ "$(id -u)" -eq 0 ]; then
  default=/run/shmfs
  opts=(-o allow_other)
else
  default=${XDG_RUNTIME_DIR:-$HOME}/shmfs
fi
MNT=${1:-$default}

mkdir -p "$MNT"
if grep -q " $(realpath "$MNT") fuse.shmfs " /proc/self/mounts; then
  echo "run: shmfs is already mounted at $MNT"
else
  "$BUILD_DIR/fs/shmfs" --shm-dir "$SHM_DIR" "${opts[@]}" "$MNT"
  echo "run: mounted $SHM_DIR at $MNT"
fi
echo "run: try   ls -l $MNT;  cat $MNT/LIST/0;  getfattr -d $MNT/NAME"
echo "run: unmount with   fusermount3 -u $MNT"
