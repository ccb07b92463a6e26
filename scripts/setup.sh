#!/usr/bin/env bash
# Installs what building and testing osmo needs on Debian 12, if missing (idempotent, quiet).
set -euo pipefail
packages=(libcurl4-openssl-dev libarchive-dev libzstd-dev liblz4-dev libacl1-dev zlib1g-dev libbz2-dev
          liblzma-dev nettle-dev libstdc++-12-dev pkg-config patchelf binutils hyperfine)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The pod-example test reads YAML with PyYAML.
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml
command -v swift >/dev/null || { echo "setup: swift not on PATH (Swift 6 toolchain expected at /opt/swift)" >&2; exit 1; }
