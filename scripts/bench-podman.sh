#!/usr/bin/env bash
# `podman kube play` → pod complete for the generated task pod running /bin/true, beside podman's
# own floor (a pod of three empty busybox containers: one init, two that run /bin/true), in
# alternating runs (A B A B …), medians and their ratio (issue 13 §3 and its goal line).
#
# Both pods are played the same way: `kube play --start=false`, then `pod start`, then `podman
# wait` on the two containers; the task pod also empties its host volumes in between (podman
# 4.3.1's placeholders, Tests/Servers/podman_kube.py). The manifest rewrite and removing the pod
# are outside the timing. ctrl reports to an `osmo service` on 127.0.0.1, as in the test.
#
# Usage (root): scripts/bench-podman.sh [RUNS]   (default 7; OSMO_BUNDLE overrides dist/osmo)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-7}"
bundle="$(cd "${OSMO_BUNDLE:-dist/osmo}" && pwd)"
osmo="$bundle/bin/osmo"
[ -x "$osmo" ] || { echo "bench-podman: no bundle at $bundle (scripts/bundle.sh)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench-podman: needs root (buildah mounts, runc)" >&2; exit 1; }

work="$(mktemp -d /tmp/osmo-bench-podman-XXXXXX)"
service_pid=""
cleanup() {
  [ -z "$service_pid" ] || kill "$service_pid" 2>/dev/null || true
  podman pod rm --all --force --time 0 >/dev/null 2>&1 || true
  podman rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# A private store and the settings podman 4.3.1 needs here (as the test's).
Tests/Servers/podman_images.sh store "$work"
export CONTAINERS_CONF="$work/containers.conf" CONTAINERS_STORAGE_CONF="$work/storage.conf" REGISTRY_AUTH_FILE="$work/auth.json" TMPDIR="$work"

Tests/Servers/podman_images.sh runtime "$bundle" localhost/osmo-runtime:bench
Tests/Servers/podman_images.sh user glibc localhost/osmo-user-glibc:bench
Tests/Servers/podman_images.sh user busybox localhost/osmo-busybox:bench

echo "refresh-bench-$$" > "$work/refresh_token"
"$osmo" service --listen 127.0.0.1:0 --log-dir "$work/logs" --refresh-token-file "$work/refresh_token" --quiet > "$work/service.out" 2>&1 &
service_pid=$!
for _ in $(seq 300); do grep -q '^listening ' "$work/service.out" && break; sleep 0.1; done
port="$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$work/service.out" | head -n 1)"
[ -n "$port" ] || { echo "bench-podman: osmo service did not start: $(cat "$work/service.out")" >&2; exit 1; }
for f in login user_config service_config; do echo "auth: {}" > "$work/$f.yaml"; done
"$osmo" pod manifest --name bench-task --workflow bench --task task --image localhost/osmo-user-glibc:bench \
  --runtime-image localhost/osmo-runtime:bench --service-url "http://127.0.0.1:$port" \
  --refresh-token-file "$work/refresh_token" --login-file "$work/login.yaml" \
  --user-config-file "$work/user_config.yaml" --service-config-file "$work/service_config.yaml" -- /bin/true > "$work/task.yaml"

cat > "$work/floor.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: bench-floor}
spec:
  restartPolicy: Never
  initContainers:
    - {name: init, image: localhost/osmo-busybox:bench, command: ["/bin/true"]}
  containers:
    - {name: task, image: localhost/osmo-busybox:bench, command: ["/bin/true"]}
    - {name: side, image: localhost/osmo-busybox:bench, command: ["/bin/true"]}
EOF

now() { date +%s.%N; }
# play POD MANIFEST VOLUMES CONTAINER…: seconds from kube play to every container ended.
play() {
  local pod="$1" manifest="$2" volumes="$3" start end code; shift 3
  start="$(now)"
  # podman 4.3.1 logs a harmless "Removing container … from database" error for the finished init
  # container: its stderr goes to a log, shown only on failure.
  timeout 120 podman kube play --start=false --network host "$manifest" >/dev/null 2>>"$work/podman.log"
  [ -z "$volumes" ] || find "$volumes/empty" -mindepth 2 -maxdepth 2 -exec rm -rf {} +
  timeout 120 podman pod start "$pod" >/dev/null 2>>"$work/podman.log"
  for container in "$@"; do
    code="$(timeout 120 podman wait "$pod-$container" 2>>"$work/podman.log")"
    [ "$code" = 0 ] || { echo "bench-podman: $pod-$container exited $code" >&2; cat "$work/podman.log" >&2; podman logs "$pod-$container" >&2; exit 1; }
  done
  end="$(now)"
  timeout 60 podman pod rm --force --time 0 "$pod" >/dev/null 2>>"$work/podman.log"
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f\n", b - a}'
}

task=() floor=()
for i in $(seq "$runs"); do
  rm -rf "$work/vol"
  python3 Tests/Servers/podman_kube.py "$work/task.yaml" "$work/vol" "$work/task-podman.yaml" \
    --file /osmo/bin/osmo_exec --file /osmo/bin/osmo_ctrl
  task+=("$(play bench-task "$work/task-podman.yaml" "$work/vol" task osmo-ctrl)")
  floor+=("$(play bench-floor "$work/floor.yaml" "" task side)")
  echo "run $i: task ${task[-1]} s, floor ${floor[-1]} s" >&2
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mt="$(median "${task[@]}")" mf="$(median "${floor[@]}")"
printf 'podman kube play -> complete, /bin/true, median of %d: task pod %.3f s, floor (3 empty busybox containers) %.3f s, ratio %.2f\n' \
  "$runs" "$mt" "$mf" "$(awk -v a="$mt" -v b="$mf" 'BEGIN {print a / b}')"
