#!/usr/bin/env bash
# run.sh - install what is missing, build, and (once the daemon lands) mount.
#
# Today the project has the library only (lib/, libshmseg); the shmfs daemon
# that mounts /dev/shm is the next milestone.  This builds everything and
# says where the results are.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "run: built libshmseg in build/lib/ (library, header lib/shmseg.h)."
echo "run: the shmfs daemon is not part of this version yet; nothing to mount."
