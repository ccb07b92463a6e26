#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (Swift's -sanitize=fuzzer,address) and runs each for a
# bounded time, from its seed corpus and the regression inputs of earlier crashes.
#
# Usage: scripts/fuzz.sh [--seconds N] [TARGET…]   (default 15 s each; CI runs the default)
#   For hours: scripts/fuzz.sh --seconds 14400 fuzz-archives
# A crash leaves its input in Fuzz/crashes/<target>/; copy it into Fuzz/Regressions/<target>/
# (and fix the bug): every later run replays it first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
seconds=15
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(fuzz-socket-messages fuzz-data-urls fuzz-credential-files fuzz-archives)

scratch="${OSMO_FUZZ_SCRATCH:-.build-fuzz}"
# lld: gold fails on these objects (an internal error in its DWARF reader).
flags=(--package-path Fuzz --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld)
swift build "${flags[@]}" >&2
bin="$(swift build "${flags[@]}" --show-bin-path)"

work="$(mktemp -d /tmp/osmo-fuzz-XXXXXX)"
trap 'rm -rf "$work"' EXIT
# Seeds: the hostile-archive corpus for the extractor, a few shapes for the others.
python3 Tests/Servers/hostile.py "$work/hostile" >&2
mkdir -p "$work/seeds/fuzz-archives" "$work/seeds/fuzz-socket-messages" "$work/seeds/fuzz-data-urls" "$work/seeds/fuzz-credential-files"
find "$work/hostile/cases" -type f -size -256k -exec sh -c 'for f; do cp "$f" "$0/$(echo "$f" | md5sum | cut -c1-16)"; done' "$work/seeds/fuzz-archives" {} +
printf '{"Type":"MessageOut","MessageOut":"hi","MessageErr":"","MessageOps":"","OutputFolder":"","RouterAddress":"","Command":"","TaskPort":0,"RsyncRunning":false}\n{"Type":"ExecFinished"}' > "$work/seeds/fuzz-socket-messages/1"
for u in 's3://bucket/a/b' 'https://h:1/p/f.tar?X-Amz-Signature=1#x' 'azure://acct/c/p' 'tos://host/b/k' 'file:///tmp/x' 'gs://b'; do
  printf '%s' "$u" > "$work/seeds/fuzz-data-urls/$(printf '%s' "$u" | md5sum | cut -c1-16)"
done
printf 'auth:\n  data:\n    "s3://bkt":\n      endpoint: s3://bkt\n      region: us-east-1\n      access_key_id: A\n      access_key: "s#cret"\n' > "$work/seeds/fuzz-credential-files/1"

status=0
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  crashes="Fuzz/crashes/$target"
  mkdir -p "$corpus" "$crashes"
  regressions=()
  if [ -d "Fuzz/Regressions/$target" ] && [ -n "$(ls -A "Fuzz/Regressions/$target")" ]; then
    # Replays each saved crash input once (libFuzzer runs files given as arguments).
    "$bin/$target" "Fuzz/Regressions/$target"/* >&2 || { echo "fuzz: $target fails a regression input" >&2; status=1; continue; }
  fi
  echo "fuzz: $target for ${seconds}s" >&2
  if ! ASAN_OPTIONS=detect_leaks=0 "$bin/$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
        -artifact_prefix="$crashes/" "$corpus" "$work/seeds/$target" 2> "$work/$target.log"; then
    tail -40 "$work/$target.log" >&2
    echo "fuzz: $target found a crash (input saved in $crashes/)" >&2
    status=1
  else
    echo "fuzz: $target: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$work/$target.log" | tail -1)s, no crash" >&2
  fi
done
exit $status
