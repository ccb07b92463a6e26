#!/usr/bin/env bash
# Installs what building and testing osmo needs on Debian 12, if missing (idempotent, quiet).
set -euo pipefail
packages=(libcurl4-openssl-dev libarchive-dev libzstd-dev liblz4-dev libacl1-dev zlib1g-dev libbz2-dev
          liblzma-dev nettle-dev libstdc++-12-dev pkg-config patchelf binutils hyperfine
          # The bundle: its static launcher (musl-gcc) and libcurl built from Debian's source.
          musl-tools dpkg-dev libssl-dev
          # The bundle's chroot tests: a musl-only root and a busybox root with no libc.
          musl busybox-static
          # Integration tests and benchmarks: reference archivers to cross-check ours.
          libarchive-tools zip unzip zstd xz-utils bzip2 tar
          # The reference ctrl lists each input with tree(1): the oracle for our listing.
          tree openssl
          # Peak memory of a client process in the exec tests.
          time
          # The podman test: `podman kube play` on the generated manifest, images built by buildah
          # from scratch; user images from busybox-static (no libc) and musl.
          podman buildah runc busybox-static musl
          # rsync end to end: the daemon the wrapper runs and the client the CLI runs (issue 15).
          rsync)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nginx (a real HTTP server for transfer tests): nginx-light on Debian 12, but releases after it
# dropped that package, so check for the binary and pick the package only when installing.
need_nginx=0; [ -x /usr/sbin/nginx ] || need_nginx=1
if [ ${#missing[@]} -gt 0 ] || [ "$need_nginx" -eq 1 ]; then
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  if [ "$need_nginx" -eq 1 ]; then
    if apt-cache show nginx-light >/dev/null 2>&1; then missing+=(nginx-light); else missing+=(nginx); fi
  fi
  echo "setup: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The pod-example test reads YAML with PyYAML.
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml
# The manifest tests validate `osmo pod manifest` with kubernetes-validate (Kubernetes' schemas
# bundled, offline), for the newest and the oldest Kubernetes minor it carries.
command -v kubernetes-validate >/dev/null || { python3 -m pip install -q kubernetes-validate && { ! command -v pyenv >/dev/null || pyenv rehash; }; }
# The wire-compatibility tests run Tests/Servers/ref_service.py, a stand-in for the real service, on aiohttp.
python3 -c 'import aiohttp' 2>/dev/null || python3 -m pip install -q aiohttp
# S3 integration tests run moto_server (its [server] extra brings flask) and drive it with the aws CLI.
if ! { python3 -c 'import moto, flask, flask_cors' 2>/dev/null && command -v moto_server >/dev/null &&
       command -v aws >/dev/null; }; then
  echo "setup: installing moto[server] awscli" >&2
  python3 -m pip install -q 'moto[server]' awscli
  ! command -v pyenv >/dev/null || pyenv rehash  # new console scripts need pyenv shims
fi
command -v swift >/dev/null || { echo "setup: swift not on PATH (Swift 6 toolchain expected at /opt/swift)" >&2; exit 1; }
