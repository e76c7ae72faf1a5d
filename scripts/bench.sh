#!/usr/bin/env bash
# bench.sh - the filesystem benchmark: one shm directory measured directly,
# through shmfs and through libfuse's own passthrough_ll example, in one run,
# with the ratios the daemon's targets are stated in.
#
#   ./scripts/bench.sh [--quick] [--rounds N]   BUILD_DIR=dir: another build
#
# Builds (scripts/setup.sh), makes a private shm directory (a fresh 2 GiB
# tmpfs; a directory under /dev/shm when mounting is not allowed), compiles
# passthrough_ll from the installed libfuse3-dev examples into the build
# directory, and runs tests/bench/bench_fs on the directory itself, on a
# passthrough_ll mount of it and on an shmfs mount of it.  Each filesystem
# is mounted only for its own run, so no daemon (nor shmfs's inotify watch)
# is busy while another one is timed.  --rounds N (default 2; 1 with --quick)
# repeats the three runs in alternating order and keeps each figure's best.
# Prints every run's metric<TAB>value<TAB>unit lines, then a table with the
# ratios and PASS/FAIL.  Targets: data bandwidth through shmfs
# >= 0.95x direct, the direct figures for that ratio taken on the same
# segment in the shm directory pass by pass in turn with shmfs's (bench_fs
# --data-ref), so both see the same machine; every metadata operation
# through shmfs at least 2x as fast as through passthrough_ll.  A missed target is reported (FAIL), not an
# error; the exit status is 1 only when a run could not be made (a build,
# mount or bench_fs failure).  Everything it mounts, starts or creates is
# removed on exit, Ctrl-C included.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 [--quick] [--rounds N]    (BUILD_DIR=dir selects the build, default build)"
}
quick=() rounds=''
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=(--quick) ;;
    --rounds)
      [[ ${2:-} =~ ^[1-9][0-9]?$ ]] || { usage >&2; exit 2; }
      rounds=$2
      shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
[ -n "$rounds" ] || rounds=$(( ${#quick[@]} ? 1 : 2 ))

export BUILD_DIR=${BUILD_DIR:-build}
EXAMPLES=/usr/share/doc/libfuse3-dev/examples
TARGET_DATA=0.95 # shmfs / direct bandwidth
TARGET_META=2    # passthrough_ll time / shmfs time

status=0 # becomes 1 when a run could not be made
note() { printf 'bench: %s\n' "$*" >&2; }

# --- cleanup: always, in reverse order of creation ---------------------------

work='' shm='' shm_is_tmpfs=0 bench_pid=''
declare -A daemon_pid=() # mount point -> pid

is_mounted() { # MOUNTPOINT
  awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# Wait up to 5 s for one of our processes to end, then TERM it, then KILL it.
reap() { # PID WHAT
  local pid=$1 sig
  for sig in 0 TERM KILL; do
    [ "$sig" = 0 ] || kill -s "$sig" "$pid" 2>/dev/null || break
    [ "$sig" = 0 ] || note "$2 (pid $pid) still running: sent SIG$sig"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break 2; sleep 0.1; done
  done
  wait "$pid" 2>/dev/null || true
}

unmount_fuse() { # MOUNTPOINT
  local mnt=$1 pid=${daemon_pid[$1]:-}
  if is_mounted "$mnt"; then
    fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null ||
      fusermount3 -uz "$mnt" || note "cannot unmount $mnt"
  fi
  if [ -n "$pid" ]; then
    reap "$pid" "the daemon of $mnt"
    unset "daemon_pid[$mnt]"
  fi
}

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
  set +e
  trap - EXIT INT TERM
  if [ -n "$bench_pid" ]; then # bench_fs removes its files when told to stop
    kill "$bench_pid" 2>/dev/null
    reap "$bench_pid" bench_fs
  fi
  for mnt in "${!daemon_pid[@]}"; do unmount_fuse "$mnt"; done
  if [ -n "$shm" ]; then
    if [ "$shm_is_tmpfs" = 1 ]; then
      umount "$shm" || note "cannot unmount the tmpfs $shm"
      rmdir "$shm"
    else
      rm -rf --one-file-system "$shm"
    fi
  fi
  if [ -n "$work" ]; then
    rm -f "$work"/*.tsv "$work"/*.log
    rmdir "$work"/mnt-* "$work" 2>/dev/null || note "left $work behind"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ------------------------------------------------------------------

shmfs_built=1
if ! ./scripts/setup.sh; then
  # The daemon may be mid-change; the baselines can still be measured.
  note "the build failed; building bench_fs alone, shmfs will not be measured"
  shmfs_built=0 status=1
  meson compile -C "$BUILD_DIR" bench_fs >/dev/null
fi
bench_fs=$BUILD_DIR/tests/bench/bench_fs
shmfs=$BUILD_DIR/fs/shmfs

# passthrough_ll: compiled from the installed example (gzip'ed on some
# systems) with -O2, as the project's own code is.
pll_dir=$BUILD_DIR/passthrough_ll
pll=$pll_dir/passthrough_ll
build_passthrough_ll() {
  mkdir -p "$pll_dir"
  local f
  for f in passthrough_ll.c passthrough_helpers.h; do
    if [ -f "$EXAMPLES/$f" ]; then
      cp "$EXAMPLES/$f" "$pll_dir/$f"
    elif [ -f "$EXAMPLES/$f.gz" ]; then
      gzip -dc "$EXAMPLES/$f.gz" >"$pll_dir/$f"
    else
      note "$EXAMPLES/$f not found (is libfuse3-dev installed?)"
      return 1
    fi
  done
  # shellcheck disable=SC2046 # pkg-config prints several words
  cc -O2 -o "$pll" "$pll_dir/passthrough_ll.c" $(pkg-config --cflags --libs fuse3)
}
if [ ! -x "$pll" ] && ! build_passthrough_ll; then
  note "cannot build passthrough_ll; it will not be measured"
  status=1
fi

# --- the shm directory and the mount points -----------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/shmfs-bench.XXXXXX")
work=$(realpath "$work")
mkdir "$work/mnt-shm" "$work/mnt-shmfs" "$work/mnt-passthrough_ll"
if mount -t tmpfs -o size=2g,mode=0755 tmpfs "$work/mnt-shm" 2>/dev/null; then
  shm=$work/mnt-shm shm_is_tmpfs=1
  echo "shm directory: $shm (a fresh tmpfs)"
else
  rmdir "$work/mnt-shm"
  shm=$(mktemp -d /dev/shm/shmfs-bench.XXXXXX)
  echo "shm directory: $shm (cannot mount a tmpfs here: a directory of /dev/shm)"
fi
# The metadata ratios depend on what waking an idle CPU costs (README,
# Filesystem benchmark); in a KVM guest, halt polling decides that.
halt_poll=/sys/module/haltpoll/parameters/guest_halt_poll_ns
if [ -r "$halt_poll" ] && [ -r /sys/devices/system/cpu/cpuidle/current_driver ]; then
  echo "cpuidle: $(cat /sys/devices/system/cpu/cpuidle/current_driver)," \
    "guest_halt_poll_ns=$(cat "$halt_poll")"
fi

# --- runs -----------------------------------------------------------------------

run_bench() { # NAME ROUND DIR [bench_fs options]
  local name=$1 round=$2 dir=$3 out=$work/$1.$2.tsv
  shift 3
  echo "== $name, round $round of $rounds: $dir"
  # In the background, so that a signal to this script is handled at once
  # (bash runs traps only between commands, and wait is interruptible).
  "$bench_fs" "${quick[@]}" --shm-dir "$shm" "$@" "$dir" >"$out" \
    2>"$work/$name.log" &
  bench_pid=$!
  local rc=0
  wait "$bench_pid" || rc=$?
  bench_pid=
  if [ "$rc" = 0 ]; then
    cat "$out"
  else
    cat "$out" "$work/$name.log"
    note "$name: bench_fs failed"
    status=1
  fi
  local left
  left=$(find "$shm" -mindepth 1 -maxdepth 1 -printf '%f ' | head -c 200)
  if [ -n "$left" ]; then # the next run must start from the same state
    note "$name left files behind in $shm: $left"
    status=1
    find "$shm" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  fi
}

# Start a FUSE daemon in the foreground (background job), wait until its
# mount shows up (10 s at most).
mount_fuse() { # MOUNTPOINT LOG COMMAND...
  local mnt=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  daemon_pid[$mnt]=$!
  for _ in $(seq 100); do
    is_mounted "$mnt" && return 0
    kill -0 "${daemon_pid[$mnt]}" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "${daemon_pid[$mnt]}" 2>/dev/null; then
    note "$1 did not show up in /proc/self/mountinfo within 10 s"
  else
    local rc=0
    wait "${daemon_pid[$mnt]}" || rc=$?
    note "$(basename "$1") exited with status $rc before mounting; its output:"
  fi
  sed 's/^/    /' "$log" | tail -20 >&2
  unmount_fuse "$mnt"
  return 1
}

# One round measures each filesystem once, mounting it only for its run.
# Rounds alternate the order (direct, passthrough_ll, shmfs, then the
# reverse), and the table keeps each figure's best over all rounds, so a
# burst of load from elsewhere, or a drift, does not favour one side.
declare -A broken=() # a filesystem that could not be mounted is not retried
measure() { # NAME ROUND
  local name=$1 round=$2 mnt=$work/mnt-$1 cmd
  case $name in
    direct) run_bench direct "$round" "$shm"; return ;;
    passthrough_ll) cmd=("$pll" -f -o source="$shm" "$mnt") ;;
    shmfs) cmd=("$shmfs" --shm-dir "$shm" -f "$mnt") ;;
  esac
  [ -z "${broken[$name]:-}" ] || return 0
  if mount_fuse "$mnt" "$work/$name-daemon.log" "${cmd[@]}"; then
    if [ "$name" = shmfs ]; then
      echo "shmfs transport: $(getfattr --only-values -n user.shmfs.transport \
        "$mnt" 2>/dev/null || echo unknown)"
      # The data targets compare shmfs with the same segment read and
      # written directly, pass by pass in turn (ref.data.*).
      run_bench "$name" "$round" "$mnt" --data-ref "$shm"
    else # lists are shmfs's alone; only data and metadata compare
      run_bench "$name" "$round" "$mnt" --workloads data,meta
    fi
    unmount_fuse "$mnt"
  else
    note "$name: mount failed; not measured"
    broken[$name]=1 status=1
  fi
}

[ -x "$pll" ] || broken[passthrough_ll]=1
[ "$shmfs_built" = 1 ] || broken[shmfs]=1
for ((round = 1; round <= rounds; round++)); do
  if ((round % 2)); then order=(direct passthrough_ll shmfs); else order=(shmfs passthrough_ll direct); fi
  for name in "${order[@]}"; do measure "$name" "$round"; done
done

# --- the table ------------------------------------------------------------------

echo
echo "== summary, best of $rounds round(s) (MiB/s: higher is better; times: lower is better)"
for name in direct passthrough_ll shmfs; do
  cat "$work/$name".*.tsv >"$work/$name.tsv" 2>/dev/null || true
done
awk -F'\t' -v td="$TARGET_DATA" -v tm="$TARGET_META" '
  FNR == 1 { run = FILENAME; sub(/.*\//, "", run); sub(/\.tsv$/, "", run) }
  /^#/ || NF != 3 { next }
  $1 ~ /^ratio\./ { rsum[$1] += $2; rn[$1]++; next } # shmfs/direct, per round
  {
    k = run SUBSEP $1; unit[$1] = $3
    if (!(k in v) || ($3 ~ /\/s$/ ? $2 + 0 > v[k] : $2 + 0 < v[k])) v[k] = $2 + 0
  }
  function cell(r, m) { return ((r, m) in v) ? sprintf("%.2f", v[r, m]) : "-" }
  function row(m, ratio, target, result) {
    printf fmt, m, unit[m] ? unit[m] : "", cell("direct", m),
      cell("passthrough_ll", m), cell("shmfs", m), ratio, target, result
    if (result == "PASS") pass++
    else if (result == "FAIL") fail++
    else if (result != "") missing++
  }
  # A target: the figure of run a over that of run b is at least min.
  function target(m, a, b, min,   label, r) {
    label = a "/" b " >= " min
    if (!(((a, m) in v) && ((b, m) in v) && v[b, m] > 0))
      return row(m, "-", label, "not measured")
    r = v[a, m] / v[b, m]
    row(m, sprintf("%.3fx", r), label, r >= min ? "PASS" : "FAIL")
  }
  # A data target: shmfs against the same segment timed directly in turn
  # with it in shmfs'"'"'s own runs: the mean over the rounds of each run'"'"'s
  # median per-pass ratio (ratio.data.*); the direct column shows the
  # side-by-side figure (ref.data.*).
  function data_target(m, min,   label, r) {
    label = "shmfs/direct >= " min " *"
    if (!(("ratio." m) in rn) || !(("shmfs", "ref." m) in v))
      return target(m, "shmfs", "direct", min)
    v["direct", m] = v["shmfs", "ref." m]
    r = rsum["ratio." m] / rn["ratio." m]
    row(m, sprintf("%.3fx", r), label, r >= min ? "PASS" : "FAIL")
    side = 1
  }
  END {
    fmt = "%-26s %-9s %11s %15s %11s %8s  %-26s %s\n"
    printf fmt, "metric", "unit", "direct", "passthrough_ll", "shmfs", "ratio",
      "target", "result"
    n = split("data.mmap_write data.mmap_read data.write data.read", d, " ")
    for (i = 1; i <= n; i++) data_target(d[i], td)
    n = split("meta.create_ftruncate meta.readdir_stat meta.open_close meta.unlink", d, " ")
    for (i = 1; i <= n; i++) target(d[i], "passthrough_ll", "shmfs", tm)
    row("cat.element", "-", "(per element, report)", "")
    row("cat.lib_get_text", "-", "(libshmseg, reference)", "")
    row("cat.lib_attach_get_text", "-", "(libshmseg, reference)", "")
    if (side)
      print "* direct for these rows: the same segment read and written in the shm directory\n  itself, pass by pass in turn with shmfs, during shmfs'"'"'s runs; ratio: the median\n  over passes of shmfs/direct in the same pass, averaged over the rounds"
    printf "targets: %d PASS, %d FAIL, %d not measured\n", pass, fail, missing
  }' "$work/direct.tsv" "$work/passthrough_ll.tsv" "$work/shmfs.tsv"

[ "$status" = 0 ] || note "some runs could not be made (see above)"
exit "$status"
