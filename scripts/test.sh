#!/usr/bin/env bash
# The test command: installs missing packages, builds the portable bundle (the chroot test runs
# it on a glibc-only root), runs the whole suite, then each libFuzzer target for 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
scripts/bundle.sh dist/osmo
# The hostile-input and service-abuse suites start hundreds of processes and connections: they
# run on their own, after the rest, so they never load the timing-sensitive service tests; so
# do the podman pods (image builds, three containers per pod).
heavy=(HostileInputTests ServiceHardeningTests PodmanTests)
OSMO_BUNDLE="$PWD/dist/osmo" swift test --skip "${heavy[0]}" --skip "${heavy[1]}" --skip "${heavy[2]}" "$@"
OSMO_BUNDLE="$PWD/dist/osmo" swift test --skip-build --filter "${heavy[0]}" --filter "${heavy[1]}" --filter "${heavy[2]}" "$@"
# The parsers of untrusted input under libFuzzer, briefly (hours: scripts/fuzz.sh --seconds N).
scripts/fuzz.sh --seconds "${OSMO_FUZZ_SECONDS:-10}"
