#!/usr/bin/env bash
# Times `osmo init` from the release bundle with hyperfine: a full init into fresh volumes (the
# 39.5 MB bundle: hard links when the volumes are on the bundle's file system, as here, else a copy
# with one syncfs; then the layout) and the idempotent re-run.
# The reference init takes 5–10 s (it copies a PyInstaller tree); the goal here is well under 50 ms.
#
# Usage: scripts/bench-init.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"
[ -x dist/osmo/bin/osmo ] || scripts/bundle.sh dist/osmo
osmo="$PWD/dist/osmo/bin/osmo"
work="$(mktemp -d /tmp/osmo-bench-init-XXXXXX)"
trap 'rm -rf "$work"' EXIT
init_into() {
  echo "$osmo init --data_location $1/data --login_location $1/login --user_bin_location $1/usr/bin --run_location $1/run --bin_location $1/bin"
}
# Every full run gets a new directory (never a path deleted moments before: see shared/README).
hyperfine --shell=bash --warmup 3 --runs "$runs" --export-json "$work/full.json" \
  -n "osmo init (full, bundle with libs)" "d=\$(mktemp -d -p $work); $(init_into '$d')" \
  -n "osmo init (binary only, no libs)" "d=\$(mktemp -d -p $work); mkdir \$d/nolib; $(init_into '$d') --lib_source \$d/nolib" \
  -n "peer: cp -r bundle + sync -f (same bytes)" "d=\$(mktemp -d -p $work); cp -r dist/osmo \$d/ && sync -f \$d" \
  -n "mktemp alone (baseline)" "d=\$(mktemp -d -p $work)"
mkdir -p "$work/done"
eval "$(init_into "$work/done")"
hyperfine -N --warmup 3 --runs "$runs" -n "osmo init (already initialised: no-op)" "$(init_into "$work/done")"
