#!/usr/bin/env bash
# The task lifecycle's numbers, from the release bundle:
#  1. pod start-up overhead: `osmo pod run -- /bin/true` (init + ctrl + wrapper + teardown), hyperfine
#     median; goal < 100 ms.
#  2. log throughput user → wrapper → ctrl → sink: 1,000,000 lines of 100 bytes (both the console
#     sink, to /dev/null, and the JSON-lines file): lines/s, CPU and peak RSS of each process
#     (`pod run --stats`, from wait4), and zero loss checked line by line in the JSON-lines log.
#     The reference delivers about 10 lines/s toward the service.
#  3. ctrl's peak RSS idle (a command that sleeps) and while relaying; goal < 15 MB.
#
# Usage: scripts/bench-pod.sh [LINES]
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-1000000}"
[ -x dist/osmo/bin/osmo ] || scripts/bundle.sh dist/osmo
osmo="$PWD/dist/osmo/bin/osmo"
work="$(mktemp -d /tmp/osmo-bench-pod-XXXXXX)"
trap 'rm -rf "$work"' EXIT

echo "## pod start-up: osmo pod run -- /bin/true"
hyperfine -N --warmup 3 --runs 30 --export-json "$work/startup.json" "$osmo pod run -- /bin/true"

echo
echo "## log relay: $lines lines of 100 bytes"
# 100 bytes per line: a 7-digit counter, a space, 91 filler characters, the newline.
gen="python3 -c \"import sys; f='x'*91; w=sys.stdout.write
for i in range($lines): w(f'{i:07d} {f}\\n')\""
start=$(date +%s.%N)
"$osmo" pod run --stats --pod-dir "$work/relay" -- /bin/sh -c "$gen" >/dev/null 2>"$work/relay.stats"
end=$(date +%s.%N)
cat "$work/relay.stats"
python3 - "$work/relay/task-log.jsonl" "$lines" "$start" "$end" <<'PY'
import json, sys
path, lines, start, end = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
got = [json.loads(l)["Text"] for l in open(path) if '"IOType":"STDOUT"' in l]
expected_ok = len(got) == lines and all(t.startswith(f"{i:07d} ") and len(t) == 99 for i, t in enumerate(got))
print(f"delivered {len(got)} of {lines} lines, in order and intact: {expected_ok}")
print(f"wall {end - start:.2f} s for the whole pod -> {lines / (end - start):,.0f} lines/s end to end")
PY

echo
echo "## ctrl memory idle (command sleeps 2 s)"
"$osmo" pod run --stats -- /bin/sleep 2 2>&1 >/dev/null | grep -E "osmo-ctrl|osmo_exec"
