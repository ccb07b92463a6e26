#!/usr/bin/env bash
# The README's first command: builds osmo and runs the main job on a local default. Today that is
# `osmo init` into a fresh pod directory (the shared volumes of a task pod), then the tree it made
# and the version of the installed binary.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
swift build --product osmo >&2
osmo="$(swift build --show-bin-path)/osmo"
pod="$(mktemp -d /tmp/osmo-pod-XXXXXX)"
start=$(date +%s%N)
"$osmo" init --data_location "$pod/data" --login_location "$pod/login" --user_bin_location "$pod/usr/bin" \
  --run_location "$pod/run" --bin_location "$pod/bin" --verbose
end=$(date +%s%N)
echo "init took $(( (end - start) / 1000000 )) ms; the pod directory:"
find "$pod" -printf '%M %-10u %P%y\n' | sed 's/d$/\//; s/[fl]$//' | sort -k3
echo
"$pod/bin/osmo/osmo" --version
