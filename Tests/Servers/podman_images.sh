#!/usr/bin/env bash
# Builds the task pod's images with buildah, from scratch, with no registry (issue 13 §3):
#
#   podman_images.sh runtime BUNDLE IMAGE   the osmo runtime image (init and ctrl): the bundle
#                                           (scripts/bundle.sh) at /osmo with the role links, and
#                                           nothing else (the bundle carries its own libc)
#   podman_images.sh user KIND IMAGE        a user image: KIND is busybox (busybox-static and its
#                                           applet links, no libc), musl (Debian's musl files +
#                                           busybox) or glibc (libc6's files + busybox)
#   podman_images.sh store DIR              writes DIR/containers.conf and DIR/storage.conf: a
#                                           private store under DIR with the settings podman 4.3.1
#                                           needs on these machines (cgroup v1 in a VM, no systemd)
#
# The caller sets CONTAINERS_CONF / CONTAINERS_STORAGE_CONF to those files (nothing under /etc
# or /var/lib/containers is read for settings or touched). Needs root (buildah mount). The runtime image is the one
# images/Containerfile describes, minus its distroless extras (CA certificates, tzdata, passwd).
set -euo pipefail

# Runs `fill ROOT` on a fresh scratch container, then commits it as IMAGE with `buildah config` ARGS.
build() {
  local image="$1" fill="$2"; shift 2
  local container root
  container="$(buildah from --name "osmo-build-$$-$RANDOM" scratch)"
  trap 'buildah rm "$container" >/dev/null 2>&1 || true' RETURN
  root="$(buildah mount "$container")"
  "$fill" "$root"
  buildah umount "$container" >/dev/null
  [ $# -eq 0 ] || buildah config "$@" "$container"
  buildah commit -q --rm "$container" "$image" >/dev/null
  trap - RETURN
}

# Copies the file at `path` (following links) to the same path under `root`.
copy_as() {
  local root="$1" path="$2"
  mkdir -p "$root$(dirname "$path")"
  cp -L "$path" "$root$path"
}

# /bin/busybox (Debian's busybox-static: no libc needed) and a link for every applet (busybox
# --install -s in a chroot: one process, where a loop of `ln` took seconds on a busy machine).
fill_busybox() {
  local root="$1"
  ! ldd /bin/busybox >/dev/null 2>&1 || { echo "podman_images: /bin/busybox is not static (apt-get install busybox-static)" >&2; exit 1; }
  mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"
  install -d -m 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  chroot "$root" /bin/busybox --install -s
}

# A Debian package's files (not its docs, and not /etc for libc6: ld.so.conf and friends), at
# their packaged paths as real directories (the host's merged-/usr links are not copied).
fill_package() {
  local root="$1" package="$2" f
  dpkg -L "$package" | while read -r f; do
    case "$f" in /usr/share/*) continue ;; esac
    [ "$package" = libc6 ] && case "$f" in /etc/*) continue ;; esac
    [ -d "$f" ] && continue
    if [ -f "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
  done | (cd "$root" && xargs -0 -r sh -c 'for f; do mkdir -p ".${f%/*}"; done; exec cp -a -t . --parents "$@"' sh)
}

fill_user_busybox() { fill_busybox "$1"; }
fill_user_musl() { fill_package "$1" musl; fill_busybox "$1"; }
fill_user_glibc() { fill_package "$1" libc6; fill_busybox "$1"; }

fill_runtime() {
  local root="$1" name lib
  mkdir -p "$root/osmo"
  cp -a "$bundle/." "$root/osmo/"
  # The names the OSMO service runs (`osmo_init`, `/osmo/bin/osmo_ctrl`), as images/Containerfile.
  for name in osmo_init osmo-init osmo_ctrl osmo-ctrl osmo_exec osmo-user; do ln "$root/osmo/bin/osmo" "$root/osmo/bin/$name"; done
  # Nothing else: the bundle carries its own loader, libc and libcurl (issue 13 §1).
  install -d -m 1777 "$root/tmp"
}

case "${1:-}" in
  store)
    [ $# -eq 2 ] || { echo "usage: $0 store DIR" >&2; exit 2; }
    dir="$(cd "$2" && pwd)"
    mkdir -p "$dir/networks"
    cat > "$dir/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "host"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
tmp_dir = "$dir/engine-tmp"
[network]
network_config_dir = "$dir/networks"
EOF
    cat > "$dir/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$dir/graph"
runroot = "$dir/run"
EOF
    echo '{}' > "$dir/auth.json" ;;
  runtime)
    [ $# -eq 3 ] || { echo "usage: $0 runtime BUNDLE IMAGE" >&2; exit 2; }
    bundle="$(cd "$2" && pwd)"
    [ -x "$bundle/bin/osmo" ] || { echo "podman_images: no bundle at $bundle (scripts/bundle.sh)" >&2; exit 1; }
    build "$3" fill_runtime --env PATH=/osmo/bin:/usr/local/bin:/usr/bin:/bin --entrypoint '["/osmo/bin/osmo"]' --cmd '' ;;
  user)
    [ $# -eq 3 ] || { echo "usage: $0 user busybox|musl|glibc IMAGE" >&2; exit 2; }
    case "$2" in busybox|musl|glibc) ;; *) echo "podman_images: unknown user image kind '$2'" >&2; exit 2 ;; esac
    build "$3" "fill_user_$2" --env PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin --cmd '["/bin/sh"]' ;;
  *) echo "usage: $0 runtime BUNDLE IMAGE | user busybox|musl|glibc IMAGE | store DIR" >&2; exit 2 ;;
esac
