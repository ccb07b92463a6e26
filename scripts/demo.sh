#!/usr/bin/env bash
# The README's first command: builds osmo and runs the main job on a local embedded default: a
# whole task pod (osmo-init, then osmo-ctrl and osmo_exec as separate processes sharing a pod
# directory) whose input is the dataset archive shipped in examples/, extracted while it is read;
# the command counts the CSV lines and writes a summary to {{output}}, which ctrl uploads to
# ./out/demo. Extra arguments go to `osmo pod run` (before the --).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
swift build --product osmo >&2
osmo="$(swift build --show-bin-path)/osmo"
rm -rf out/demo
"$osmo" pod run --input "file://$PWD/examples/sensors.tar.gz" --output out/demo "$@" -- \
  /bin/sh -c 'cd {{input:0}}/sensors && wc -l *.csv | tee {{output}}/line-counts.txt'
echo
echo "uploaded to out/demo:"
ls -l out/demo
