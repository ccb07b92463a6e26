#!/usr/bin/env bash
# The test command: installs missing packages, builds the portable bundle (the chroot test runs
# it on a glibc-only root) and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
scripts/bundle.sh dist/osmo
OSMO_BUNDLE="$PWD/dist/osmo" swift test "$@"
