#!/usr/bin/env bash
# The service plane's numbers, from the release bundle, each beside its peer in the same run:
#  1. log delivery to the service with zero loss: N lines of 100 bytes from the user's command to
#     `osmo service` (stored, acknowledged, checked line by line; default 10,000-line buffer); lines/s.
#     Peer: the same pod with no service (relay to stdout and the file only), and the reference's
#     ~10 lines/s. Everything (generator, wrapper, ctrl, service) shares this machine's cores.
#  2. exec: session set-up (spawn to first prompt) and keystroke round trip p50/p99 through
#     client → service/router → ctrl → wrapper → PTY, vs /bin/sh on a local PTY.
#  3. TCP port-forward throughput (echo both ways, SHA-256 checked) vs a direct loopback
#     connection to the same echo server; goal ≥ 0.5×.
#
# Usage: scripts/bench-service.sh [LINES] [MB]
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-1000000}"
megabytes="${2:-500}"
[ -x dist/osmo/bin/osmo ] || scripts/bundle.sh dist/osmo
osmo="$PWD/dist/osmo/bin/osmo"
python="$(python3 -c 'import sys; print(sys.executable)')"   # skip pyenv's wrapper start-up
work="$(mktemp -d /tmp/osmo-bench-service-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  pkill -9 -f "$work" 2>/dev/null || true
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$osmo" service --listen 127.0.0.1:0 --log-dir "$work/logs" --quiet > "$work/service.out" 2>&1 &
pids+=($!)
until grep -q '^listening' "$work/service.out" 2>/dev/null; do sleep 0.05; done
url="http://$(sed -n 's/^listening //p' "$work/service.out")"
token="$work/logs/refresh_token"

echo "## 1. log delivery: $lines lines of 100 bytes"
gen="$python -c \"import sys; f='x'*91; w=sys.stdout.write
for i in range($lines): w(f'{i:07d} {f}\\n')\""
for mode in service none; do
  start=$(date +%s.%N)
  if [ $mode = service ]; then
    "$osmo" pod run --pod-dir "$work/pod-$mode" --service "$url" --refresh-token-file "$token" --workflow bench --task t \
      -- /bin/sh -c "$gen" > /dev/null 2>&1
  else
    "$osmo" pod run --pod-dir "$work/pod-$mode" --no-service -- /bin/sh -c "$gen" > /dev/null 2>&1
  fi
  end=$(date +%s.%N)
  secs=$(echo "$end - $start" | bc -l)
  printf '%-8s %8.2f s  %10.0f lines/s\n' "$mode" "$secs" "$(echo "$lines / $secs" | bc -l)" | tee -a "$work/summary"
done
"$python" - "$work/logs/bench/t.jsonl" "$lines" <<'PY'
import json, sys
got = [json.loads(l)["Text"] for l in open(sys.argv[1]) if '"STDOUT"' in l]
n = int(sys.argv[2]); f = 'x' * 91
bad = next((i for i, t in enumerate(got) if t != f'{i:07d} {f}'), None)
print(f"zero loss check: {len(got)} of {n} lines stored, in order: {'yes' if len(got) == n and bad is None else f'NO (first bad index {bad})'}")
PY

echo
echo "## 2. exec: session set-up and keystroke round trip (200 keys)"
"$osmo" pod run --pod-dir "$work/pod-exec" --service "$url" --refresh-token-file "$token" --workflow bench --task x -- sleep 600 > /dev/null 2>&1 &
pids+=($!)
until grep -q '"up\|Connected to the service' "$work/logs/bench/x.jsonl" 2>/dev/null; do sleep 0.1; done
for i in 1 2 3; do
  printf 'through ctrl: '; "$python" scripts/pty_rtt.py --runs 200 -- "$osmo" exec bench x --service "$url" -- /bin/sh
  printf 'local pty:    '; "$python" scripts/pty_rtt.py --runs 200 -- /bin/sh
done

echo
echo "## 3. TCP port-forward: $megabytes MB echoed (both directions), vs direct"
"$python" Tests/Servers/peers.py tcp-server --ready-file "$work/echo.port" & pids+=($!)
until [ -s "$work/echo.port" ]; do sleep 0.05; done
echo_port=$(cat "$work/echo.port")
"$osmo" port-forward bench x --service "$url" --port 0:"$echo_port" > "$work/forward.out" 2>&1 & pids+=($!)
until grep -q '^Forwarding' "$work/forward.out"; do sleep 0.05; done
fwd_port=$(sed -n 's/^Forwarding 127.0.0.1:\([0-9]*\).*/\1/p' "$work/forward.out")
bytes=$((megabytes * 1000000))
for i in 1 2 3; do
  for target in direct:"$echo_port" forward:"$fwd_port"; do
    start=$(date +%s.%N)
    "$python" Tests/Servers/peers.py tcp-client --port "${target#*:}" --bytes "$bytes" > /dev/null
    end=$(date +%s.%N)
    secs=$(echo "$end - $start" | bc -l)
    printf '%-8s %6.2f s  %8.1f MB/s each way\n' "${target%%:*}" "$secs" "$(echo "$megabytes / $secs" | bc -l)"
  done
done
