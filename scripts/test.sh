#!/usr/bin/env bash
# The test command: installs missing packages, builds the portable bundle (the chroot test runs
# it on a glibc-only root), runs the whole suite, then each libFuzzer target for 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
scripts/bundle.sh dist/osmo
OSMO_BUNDLE="$PWD/dist/osmo" swift test "$@"
# The parsers of untrusted input under libFuzzer, briefly (hours: scripts/fuzz.sh --seconds N).
scripts/fuzz.sh --seconds "${OSMO_FUZZ_SECONDS:-10}"
