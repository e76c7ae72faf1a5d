#!/usr/bin/env bash
# test_install.sh BUILD_DIR - `meson install` into a scratch root, then build
# and run the C example from README.md against the installed header,
# library and libshmseg.pc, and read its list back from CPython.
set -euo pipefail
build=$(realpath "$1")
top=$(cd "$(dirname "$0")/../.." && pwd)
root=$(mktemp -d /tmp/shmfs-install-XXXXXX)
name="shmfs_install_$$"
cleanup() {
  rm -rf "$root"
  rm -f "/dev/shm/$name"
}
trap cleanup EXIT

meson install -C "$build" --destdir "$root" --quiet >/dev/null
pc=$(find "$root" -name libshmseg.pc)
[ -n "$pc" ] || { echo "install: no libshmseg.pc installed"; exit 1; }
find "$root" -name shmseg.h | grep -q . || { echo "install: no shmseg.h"; exit 1; }
libdir=$(dirname "$(find "$root" -name 'libshmseg.so' | head -n 1)")
# The daemon where mount(8) looks for it, the admin command, both man pages.
for f in sbin/shmfs bin/shmfsctl share/man/man8/shmfs.8 share/man/man1/shmfsctl.1; do
  find "$root" -path "*/$f" | grep -q . || { echo "install: no $f installed"; exit 1; }
done
LD_LIBRARY_PATH=$libdir "$(find "$root" -path '*/sbin/shmfs')" --version | grep -q '^shmfs version' ||
  { echo "install: the installed shmfs does not run"; exit 1; }
LD_LIBRARY_PATH=$libdir "$(find "$root" -path '*/bin/shmfsctl')" --help >/dev/null ||
  { echo "install: the installed shmfsctl does not run"; exit 1; }

# The example, taken from README.md so the README cannot drift from the API.
sed -n '/^```c$/,/^```$/p' "$top/README.md" | sed '1d;$d' |
  sed "s/\"scores\"/\"$name\"/g" >"$root/demo.c"
flags=$(PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_PATH=$(dirname "$pc") \
        pkg-config --cflags --libs libshmseg)
# shellcheck disable=SC2086
cc -std=gnu11 -Wall -Wextra -Werror "$root/demo.c" $flags -o "$root/demo"
out=$(LD_LIBRARY_PATH=$libdir "$root/demo")
printf '%s\n' "$out"
[ "$(printf '%s\n' "$out" | tail -n 1)" = "2.5" ] ||
  { echo "install: the README example printed the wrong element text"; exit 1; }
/usr/bin/python3 - "$name" <<'PY'
import sys
from multiprocessing.shared_memory import ShareableList
sl = ShareableList(name=sys.argv[1])
try:
    assert list(sl) == [43, 2.5, "hello"], list(sl)
    print("install: CPython reads", list(sl))
finally:
    sl.shm.close()
    sl.shm.unlink()
PY
echo "install: 1 passed, 0 failed"
