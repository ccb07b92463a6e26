#!/usr/bin/env bash
# rsync into a task, end to end (issue 15), against stock rsync over loopback:
#  1. incremental sync of a 10,000-file tree with one changed file: `osmo workflow rsync upload`
#     (CLI → service → router → ctrl → the wrapper's daemon, a new tunnel per run) vs `rsync -a` to
#     a plain `rsync --daemon` on loopback; medians of RUNS, alternating; goal < 1 s end to end.
#  2. an unlimited upload of SIZE_MB MiB (new destination each run), tunnel vs direct; medians and
#     their ratio (goal ≥ 0.8×).
#  3. the daemon's per-connection limit: SIZE_LIMIT_MB MiB uploaded straight to `osmo_exec
#     -rsyncDaemon -rsyncReadLimit 8 MiB/s`, achieved rate / limit (goal within 5 %).
#
# Usage: scripts/bench-rsync.sh [RUNS] [SIZE_MB]   (OSMO=path/to/osmo, default the release bundle)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"; size_mb="${2:-256}"; limit_mb="${SIZE_LIMIT_MB:-32}"
if [ -z "${OSMO:-}" ]; then [ -x dist/osmo/bin/osmo ] || scripts/bundle.sh dist/osmo; OSMO="$PWD/dist/osmo/bin/osmo"; fi
work="$(mktemp -d /tmp/osmo-bench-rsync-XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 -- "-$p" 2>/dev/null || kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { python3 -c 'import statistics,sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")' "$@"; }

# The service and a pod with rsync on.
echo "local-refresh-bench" > "$work/token"
setsid "$OSMO" service --listen 127.0.0.1:0 --log-dir "$work/logs" --refresh-token-file "$work/token" --quiet \
  --rsync-workflow wf-bench > "$work/service.out" 2>&1 & pids+=($!); disown
for _ in $(seq 200); do grep -q '^listening ' "$work/service.out" 2>/dev/null && break; sleep 0.05; done
url="http://127.0.0.1:$(grep '^listening ' "$work/service.out" | head -1 | sed 's/.*://')"
export OSMO_RSYNC_PORT="$(free_port)"
setsid "$OSMO" pod run --pod-dir "$work/pod" --service "$url" --refresh-token-file "$work/token" --workflow wf-bench --task t \
  --rsync -- sh -c 'echo up; sleep 3600' > "$work/pod.out" 2>&1 & pids+=($!); disown
for _ in $(seq 400); do grep -q '"up"\|^up\| up$' "$work/pod.out" 2>/dev/null && break; sleep 0.05; done
sleep 1
workspace="$work/pod/run/workspace"

# The peer: a plain rsync daemon on loopback, same flags as ours (no chroot, this uid).
mkdir -p "$work/direct"
cat > "$work/rsyncd.conf" <<CONF
use chroot = no
uid = $(id -u)
gid = $(id -g)
numeric ids = yes
reverse lookup = no
pid file =
[osmo]
    path = $work/direct
    read only = no
CONF
dport="$(free_port)"
setsid rsync --daemon --no-detach --config="$work/rsyncd.conf" --address=127.0.0.1 --port="$dport" & pids+=($!); disown
sleep 0.5

osmo_up() { "$OSMO" workflow rsync upload wf-bench t "$1:/osmo/run/workspace/$2" --service "$url" --no-progress >/dev/null; }
direct_up() { rsync -a "$1" "rsync://127.0.0.1:$dport/osmo/$2" >/dev/null; }

echo "## 1. incremental sync: 10,000 files, one changed ($runs runs each, alternating)"
python3 - "$work/tree" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    os.makedirs(f"{root}/d{d:03d}", exist_ok=True)
    for f in range(100):
        with open(f"{root}/d{d:03d}/f{f:03d}.txt", "w") as out: out.write(f"{d} {f}\n" * 20)
PY
osmo_up "$work/tree/" tree/; direct_up "$work/tree/" tree/
a=(); b=()
for i in $(seq "$runs"); do
  echo "edit $i" >> "$work/tree/d050/f050.txt"
  t0=$(now); osmo_up "$work/tree/" tree/; t1=$(now); a+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now); direct_up "$work/tree/" tree/; t1=$(now); b+=("$(echo "$t1 - $t0" | bc)")
done
cmp "$work/tree/d050/f050.txt" "$workspace/tree/d050/f050.txt"
echo "osmo workflow rsync (tunnel): median $(median "${a[@]}") s  (runs: ${a[*]})"
echo "rsync direct (loopback):      median $(median "${b[@]}") s  (runs: ${b[*]})"

echo
echo "## 2. unlimited upload of $size_mb MiB ($runs runs each, alternating, new destination each run)"
head -c "$((size_mb * 1024 * 1024))" /dev/urandom > "$work/big.bin"
a=(); b=()
for i in $(seq "$runs"); do
  t0=$(now); osmo_up "$work/big.bin" "big-$i/"; t1=$(now); a+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now); direct_up "$work/big.bin" "big-$i/"; t1=$(now); b+=("$(echo "$t1 - $t0" | bc)")
  rm -rf "$workspace/big-$i" "$work/direct/big-$i"
done
ma=$(median "${a[@]}"); mb=$(median "${b[@]}")
python3 - "$size_mb" "$ma" "$mb" <<'PY'
import sys
size, a, b = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"tunnel: median {a:.2f} s = {size/a:.0f} MiB/s; direct: median {b:.2f} s = {size/b:.0f} MiB/s; tunnel/direct throughput {b/a:.2f}x")
PY
echo "(runs tunnel: ${a[*]}; direct: ${b[*]})"

echo
echo "## 3. the daemon's read limit: $limit_mb MiB at 8 MiB/s per connection"
mkdir -p "$work/limited"
lport="$(free_port)"
setsid "$OSMO" user -rsyncDaemon -rsyncPort "$lport" -runLocation "$work/limited" -rsyncReadLimit $((8 * 1024 * 1024)) \
  -rsyncWriteLimit $((8 * 1024 * 1024)) > "$work/limited.log" 2>&1 & pids+=($!); disown
sleep 0.5
head -c "$((limit_mb * 1024 * 1024))" /dev/urandom > "$work/limited.bin"
r=()
for i in $(seq 3); do
  t0=$(now); rsync -a "$work/limited.bin" "rsync://127.0.0.1:$lport/osmo/l-$i/" >/dev/null; t1=$(now); r+=("$(echo "$t1 - $t0" | bc)")
done
python3 - "$limit_mb" "$(median "${r[@]}")" <<'PY'
import sys
size, t = float(sys.argv[1]), float(sys.argv[2])
print(f"median {t:.2f} s = {size/t:.2f} MiB/s against a limit of 8 MiB/s: {size/t/8:.3f} of the limit")
PY
echo "(runs: ${r[*]})"
