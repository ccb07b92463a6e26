#!/usr/bin/env bash
# Side-by-side benchmark of `osmo data download` against peer tools, all in one run on this
# machine: curl (large file over HTTP), the aws CLI (small files from S3 = moto, and from nginx
# posing as S3 with a static listing), parallel curl (the ceiling of moto and of nginx for small
# files), curl | bsdtar and curl && bsdtar (archives
# streamed over HTTP, unthrottled and at 50 MB/s per connection), bsdtar and GNU tar (local
# extraction). Prints Markdown tables (median of RUNS runs, ratios, goals) to stdout and writes
# them to ./bench-data-results.md; progress goes to stderr.
#
# Usage: scripts/bench-data.sh [--osmo PATH] [--quick]
#   --osmo PATH  the osmo binary (default: dist/osmo/bin/osmo if present, else .build/release/osmo)
#   --quick      small sizes (64 MiB large file, 2,000 small files) for a fast smoke run
# Environment: RUNS (default 3); BIG_MIB, SMALL_FILES, SMALL_DIRS override the sizes;
#   KEEP_WORK=1 keeps the temp directory (printed) instead of deleting it.
#
# Every timed run writes into a new, never-used directory (on this machine, writing into the path
# of a tree deleted moments before is 5-10x slower for minutes); outputs are only deleted at exit.
# The page cache is warm for every tool alike (sources are read just before; nothing is dropped);
# `sync` runs before each timed command. The peers never flush what they write: the "+ sync" column
# adds a `sync -f` of the output after each run, to compare a tool that flushes with one that doesn't.
set -euo pipefail
export LC_ALL=C

usage() { sed -n '10,14s/^# \{0,1\}//p' "$0"; }

repo="$(cd "$(dirname "$0")/.." && pwd)"
results="$PWD/bench-data-results.md"
osmo=""
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --osmo) [ $# -ge 2 ] || { echo "bench-data: --osmo needs a path" >&2; exit 2; }; osmo="$2"; shift 2 ;;
    --osmo=*) osmo="${1#--osmo=}"; shift ;;
    --quick) quick=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench-data: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

RUNS="${RUNS:-3}"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "bench-data: RUNS must be a positive integer (got '$RUNS')" >&2; exit 2; }
if [ "$quick" = 1 ]; then
  BIG_MIB="${BIG_MIB:-64}"; SMALL_FILES="${SMALL_FILES:-2000}"
else
  BIG_MIB="${BIG_MIB:-1024}"; SMALL_FILES="${SMALL_FILES:-20000}"
fi
SMALL_DIRS="${SMALL_DIRS:-100}"
PAR=16   # parallel fetches of the curl ceilings

log() { printf '[bench-data %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench-data: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Tools
if [ -z "$osmo" ]; then
  if [ -x "$repo/dist/osmo/bin/osmo" ]; then osmo="$repo/dist/osmo/bin/osmo"; else osmo="$repo/.build/release/osmo"; fi
fi
case "$osmo" in /*) ;; *) osmo="$PWD/$osmo" ;; esac
missing=()
[ -x "$osmo" ] || missing+=("osmo binary not found or not executable: $osmo (build it, run scripts/bundle.sh, or pass --osmo PATH)")
NGINX="$(command -v nginx || true)"; [ -n "$NGINX" ] || { [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx; }
[ -n "$NGINX" ] || missing+=("nginx not found (apt-get install nginx-light)")
for tool in curl bsdtar tar zstd gzip aws python3 xargs cmp find awk sort; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool not found in PATH")
done
if command -v curl >/dev/null 2>&1 && ! curl --help all 2>/dev/null | grep -q -- --aws-sigv4; then
  missing+=("curl lacks --aws-sigv4 (needs curl >= 7.75)")
fi
if command -v bsdtar >/dev/null 2>&1 && ! bsdtar --version | grep -q zstd; then
  missing+=("bsdtar is built without zstd")
fi
if command -v tar >/dev/null 2>&1 && ! tar --version | head -1 | grep -q 'GNU tar'; then
  missing+=("tar is not GNU tar")
fi
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import moto, boto3' 2>/dev/null; then
  missing+=("python3 cannot import moto and boto3 (needed by Tests/Servers/s3.py)")
fi
[ -f "$repo/Tests/Servers/s3.py" ] || missing+=("$repo/Tests/Servers/s3.py not found")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'bench-data: missing prerequisites:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
osmo_check=$("$osmo" data download --help 2>&1) ||
  die "'$osmo data download --help' failed (the binary must be named osmo: it dispatches on its name): $(printf '%s' "$osmo_check" | head -3)"
TIME_BIN=""
if [ -x /usr/bin/time ]; then TIME_BIN=/usr/bin/time; else log "/usr/bin/time not found: peak RSS is not measured (apt-get install time)"; fi

# ---------------------------------------------------------------------------------------------
# Work directory, servers, cleanup
WORK="$(mktemp -d /tmp/osmo-bench-data-XXXXXX)"
chmod 755 "$WORK"   # nginx workers run as an unprivileged user when we are root
NGINX_PID=""
S3_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$NGINX_PID" ]; then kill -TERM "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
  if [ -n "$S3_PID" ]; then kill -TERM "$S3_PID" 2>/dev/null || true; wait "$S3_PID" 2>/dev/null || true; fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    log "kept $WORK"
  else
    log "removing $WORK"
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

DATA="$WORK/data"
mkdir -p "$DATA" "$WORK/out" "$WORK/logs" "$WORK/home" "$WORK/nginx" "$WORK/s3" "$WORK/curl"
chmod 755 "$DATA"
# Isolate the tools from any personal configuration and proxies.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY AWS_PROFILE AWS_SESSION_TOKEN OSMO_CONFIG_FILE_DIR
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"
export AWS_CONFIG_FILE="$WORK/home/aws-config" AWS_SHARED_CREDENTIALS_FILE="$WORK/home/aws-credentials"
export OSMO="$osmo" DATA WORK
# osmo reads ~/.config/osmo/config.yaml before the AWS_* variables: give it an empty HOME.
export OSMO_ENV="HOME=$WORK/home"

# Disk space: every run writes its own copy and nothing is deleted before the end.
est_mib() {
  local big=$BIG_MIB small=$((SMALL_FILES * 51 / 2 / 1024 + 1)) r=$RUNS
  # data: big + tree + 3 archives; case 1: 2 tools; cases 2 and 3: 3 tools + ceiling each;
  # case 4: 2 formats x 2 rates x (osmo, sequential = archive + tree, piped); case 5: 3 x 3 tools.
  echo $(( big + 4 * small + 2 * r * big + 8 * r * small + 16 * r * small + 9 * r * small ))
}
need_mib=$(est_mib)
free_mib=$(df -Pm "$WORK" | awk 'NR==2 {print $4}')
log "work dir $WORK; needs ~$((need_mib / 1024 + 1)) GiB, $((free_mib / 1024)) GiB free"
[ "$free_mib" -gt $((need_mib + need_mib / 10)) ] || die "not enough space under /tmp: need ~${need_mib} MiB, have ${free_mib} MiB (lower RUNS or use --quick)"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------------------------------------
# Datasets
log "generating ${BIG_MIB} MiB big.bin"
head -c "${BIG_MIB}M" /dev/urandom > "$DATA/big.bin"
chmod 644 "$DATA/big.bin"
BIG_BYTES=$(stat -c %s "$DATA/big.bin")

log "generating $SMALL_FILES small files (1-50 KiB) in $SMALL_DIRS dirs"
python3 - "$DATA/small" "$SMALL_FILES" "$SMALL_DIRS" "$WORK/small.list" <<'EOF'
import os, random, sys
root, count, dirs, listing = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(20240501)
names = []
for d in range(dirs):
    os.makedirs(os.path.join(root, "d%03d" % d), exist_ok=True)
for i in range(count):
    rel = "d%03d/f%05d.bin" % (i % dirs, i)
    with open(os.path.join(root, rel), "wb") as f:
        f.write(os.urandom(rng.randint(1024, 50 * 1024)))
    names.append(rel)
with open(listing, "w") as f:
    f.write("\n".join(sorted(names)) + "\n")
EOF
chmod -R a+rX "$DATA/small"
SMALL_COUNT=$(wc -l < "$WORK/small.list")
SMALL_BYTES=$(find "$DATA/small" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
# A static ListObjectsV2 answer for the nginx "S3-like front" (bucket `bench`, every key under
# small/, one page, real MD5 ETags so osmo verifies content as it does against S3/moto).
mkdir -p "$WORK/s3front"
python3 - "$DATA/small" "$WORK/small.list" "$WORK/s3front/listing.xml" <<'EOF2'
import hashlib, os, sys
root, listing, out = sys.argv[1:4]
names = open(listing).read().split()
parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
         '<Name>bench</Name><Prefix>small/</Prefix><KeyCount>%d</KeyCount><MaxKeys>%d</MaxKeys>'
         '<IsTruncated>false</IsTruncated>' % (len(names), max(1000, len(names)))]
for rel in names:
    data = open(os.path.join(root, rel), "rb").read()
    parts.append('<Contents><Key>small/%s</Key><LastModified>2024-05-01T00:00:00.000Z</LastModified>'
                 '<ETag>&quot;%s&quot;</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>'
                 % (rel, hashlib.md5(data).hexdigest(), len(data)))
parts.append('</ListBucketResult>\n')
with open(out, "w") as f:
    f.write("\n".join(parts))
EOF2
chmod -R a+rX "$WORK/s3front"
# Spot-checked files (content compared) in every verified output tree.
mapfile -t SAMPLE < <(awk -v step=$(( SMALL_COUNT / 16 + 1 )) 'NR % step == 1' "$WORK/small.list")
log "tree: $SMALL_COUNT files, $SMALL_BYTES bytes"

log "creating tree.tar, tree.tar.gz (tar czf), tree.tar.zst (tar --zstd)"
mapfile -t TOPS < <(cd "$DATA/small" && ls)
tar -C "$DATA/small" -cf "$DATA/tree.tar" "${TOPS[@]}"
tar -C "$DATA/small" -czf "$DATA/tree.tar.gz" "${TOPS[@]}"
tar -C "$DATA/small" --zstd -cf "$DATA/tree.tar.zst" "${TOPS[@]}"
declare -A ARCHIVE_BYTES
for f in tar tar.gz tar.zst; do ARCHIVE_BYTES[$f]=$(stat -c %s "$DATA/tree.$f"); done

# ---------------------------------------------------------------------------------------------
# nginx: one unthrottled server, one at limit_rate 50m per connection
HTTP_PORT=$(free_port)
SLOW_PORT=$(free_port)
while [ "$SLOW_PORT" = "$HTTP_PORT" ]; do SLOW_PORT=$(free_port); done
N="$WORK/nginx"
cat > "$N/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $N/nginx.pid;
error_log $N/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 65;
    default_type application/octet-stream;
    client_body_temp_path $N/client_body;
    proxy_temp_path $N/proxy;
    fastcgi_temp_path $N/fastcgi;
    uwsgi_temp_path $N/uwsgi;
    scgi_temp_path $N/scgi;
    server {
        listen 127.0.0.1:$HTTP_PORT;
        root $DATA;
        # S3-like front (path-style, bucket "bench"): any ListObjectsV2 of the bucket gets the
        # static listing of small/ (query ignored, signatures ignored); objects are the files.
        location = /bench { root $WORK/s3front; default_type application/xml; try_files /listing.xml =404; }
        location = /bench/ { root $WORK/s3front; default_type application/xml; try_files /listing.xml =404; }
        location /bench/ { alias $DATA/; etag off; }
    }
    server { listen 127.0.0.1:$SLOW_PORT; root $DATA; limit_rate 50m; }
}
EOF
log "starting nginx on ports $HTTP_PORT (unthrottled) and $SLOW_PORT (limit_rate 50m)"
"$NGINX" -p "$N/" -e "$N/error.log" -c "$N/nginx.conf" >"$N/stdout.log" 2>&1 &
NGINX_PID=$!
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$HTTP_PORT/small/${SAMPLE[0]}" &&
    curl -sf -o /dev/null "http://127.0.0.1:$SLOW_PORT/small/${SAMPLE[0]}" && break
  kill -0 "$NGINX_PID" 2>/dev/null || { cat "$N/stdout.log" "$N/error.log" >&2 2>/dev/null || true; NGINX_PID=""; die "nginx exited"; }
  sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$HTTP_PORT/big.bin" || { cat "$N/error.log" >&2 || true; die "nginx does not serve $DATA"; }
export HTTP_BASE="http://127.0.0.1:$HTTP_PORT" SLOW_BASE="http://127.0.0.1:$SLOW_PORT"

# ---------------------------------------------------------------------------------------------
# moto S3 with signature checking
log "starting moto S3 (Tests/Servers/s3.py)"
python3 "$repo/Tests/Servers/s3.py" --port 0 --ready-file "$WORK/s3/ready.json" --bucket bench \
  >"$WORK/s3/stdout.log" 2>"$WORK/s3/stderr.log" &
S3_PID=$!
for _ in $(seq 600); do
  [ -s "$WORK/s3/ready.json" ] && break
  kill -0 "$S3_PID" 2>/dev/null || { tail -20 "$WORK/s3/stderr.log" >&2 || true; S3_PID=""; die "s3.py exited before becoming ready"; }
  sleep 0.1
done
[ -s "$WORK/s3/ready.json" ] || die "s3.py not ready after 60 s"
eval "$(python3 - "$WORK/s3/ready.json" <<'EOF'
import json, shlex, sys
d = json.load(open(sys.argv[1]))
for k, v in (("AWS_ACCESS_KEY_ID", d["access_key_id"]), ("AWS_SECRET_ACCESS_KEY", d["secret_access_key"]),
             ("AWS_REGION", d.get("region", "us-east-1")), ("AWS_DEFAULT_REGION", d.get("region", "us-east-1")),
             ("AWS_ENDPOINT_URL", d["endpoint"]), ("S3_EP", d["endpoint"])):
    print("export %s=%s" % (k, shlex.quote(v)))
EOF
)"
log "moto at $S3_EP; uploading the tree with aws s3 cp --recursive"
t0=$EPOCHREALTIME
aws --endpoint-url "$S3_EP" s3 cp --recursive --quiet "$DATA/small" s3://bench/small >"$WORK/logs/upload.log" 2>&1 ||
  { tail -20 "$WORK/logs/upload.log" >&2; die "aws s3 cp upload into moto failed"; }
uploaded=$(aws --endpoint-url "$S3_EP" s3 ls --recursive s3://bench/small/ | wc -l)
[ "$uploaded" = "$SMALL_COUNT" ] || die "moto holds $uploaded objects under small/, expected $SMALL_COUNT"
log "uploaded $uploaded objects in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b-a}') s"

# curl config chunks for the parallel ceilings: 4 chunks per parallel slot, each one curl
# process reusing its connection; outputs go under --output-dir "$OUT".
make_curl_chunks() {   # name base-url
  local name=$1 base=$2 dir="$WORK/curl/$1"
  mkdir -p "$dir"
  awk -v base="$base" -v dir="$dir" -v chunks=$((PAR * 4)) '
    { f = sprintf("%s/chunk-%03d.cfg", dir, (NR - 1) % chunks)
      printf "url = \"%s/%s\"\noutput = \"%s\"\n", base, $0, $0 > f }' "$WORK/small.list"
  ls "$dir"/chunk-*.cfg > "$WORK/curl/$name.list"
}
make_curl_chunks s3 "$S3_EP/bench/small"
make_curl_chunks nginx "$HTTP_BASE/small"
export PAR CURL_S3_LIST="$WORK/curl/s3.list" CURL_NGINX_LIST="$WORK/curl/nginx.list"
export EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# ---------------------------------------------------------------------------------------------
# Measurement
declare -A R_LABEL R_BYTES R_MED R_MIN R_MAX R_SYNC R_RSS R_STATUS R_REF
REF=""   # the osmo row that the rows benched next are compared with
declare -A CASE_ROWS
FAILURES=()

verify_big() {
  [ -f "$1/big.bin" ] || { echo "no big.bin in the output (contents: $(ls -A "$1" | head -5 | tr '\n' ' '))"; return 1; }
  cmp -s "$1/big.bin" "$DATA/big.bin" || { echo "big.bin differs from the source ($(stat -c %s "$1/big.bin") bytes)"; return 1; }
  local n; n=$(find "$1" -mindepth 1 | wc -l)
  [ "$n" = 1 ] || { echo "expected only big.bin in the output, found $n entries: $(ls -A "$1" | head -5 | tr '\n' ' ')"; return 1; }
}
verify_tree() {
  local n bytes others rel
  n=$(find "$1" -type f | wc -l)
  bytes=$(find "$1" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  others=$(find "$1" -mindepth 1 ! -type f ! -type d | wc -l)
  if [ "$n" != "$SMALL_COUNT" ] || [ "$bytes" != "$SMALL_BYTES" ] || [ "$others" != 0 ]; then
    local have; have=$(cd "$1" && find . -mindepth 1 ! -type d | sed 's|^\./||' | sort)
    echo "expected $SMALL_COUNT files / $SMALL_BYTES bytes, got $n files / $bytes bytes / $others other entries;" \
      "missing: $(comm -23 "$WORK/small.list" <(printf '%s\n' "$have") | head -3 | tr '\n' ' ')" \
      "unexpected: $(comm -13 "$WORK/small.list" <(printf '%s\n' "$have") | grep -v '^$' | head -3 | tr '\n' ' ')"
    return 1
  fi
  for rel in "${SAMPLE[@]}"; do
    cmp -s "$1/$rel" "$DATA/small/$rel" || { echo "$rel differs from the source or is missing"; return 1; }
  done
}
verify_none() { :; }

secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2}'; }

# bench CASE ID LABEL BYTES VERIFY CMD — runs CMD (bash -o pipefail -c) RUNS times, each with
# $OUT a new empty directory; VERIFY is big|tree|none; BYTES (0 = none) gives the MB/s column.
bench() {
  local case=$1 id=$2 label=$3 bytes=$4 verify=$5 cmd=$6
  CASE_ROWS[$case]="${CASE_ROWS[$case]:-} $id"
  R_LABEL[$id]=$label; R_BYTES[$id]=$bytes; R_STATUS[$id]=ok; R_REF[$id]=$REF
  local times=() synced=() rss=() run=1 out logf rc t0 t1 t2 err
  while [ "$run" -le "$RUNS" ]; do
    out="$WORK/out/$id-r$run-$RANDOM$RANDOM"
    logf="$WORK/logs/$id-r$run.log"
    mkdir "$out"
    export OUT="$out"
    sync
    rc=0
    t0=$EPOCHREALTIME
    if [ -n "$TIME_BIN" ]; then
      "$TIME_BIN" -f %M -o "$logf.rss" bash -o pipefail -c "$cmd" >"$logf" 2>&1 || rc=$?
    else
      bash -o pipefail -c "$cmd" >"$logf" 2>&1 || rc=$?
    fi
    t1=$EPOCHREALTIME
    sync -f "$out"
    t2=$EPOCHREALTIME
    if [ "$rc" != 0 ]; then
      err="exit status $rc: $(tail -c 600 "$logf" | tr '\n' ' ')"
      R_STATUS[$id]="FAILED ($err)"; FAILURES+=("$label: $err")
      log "  $label run $run/$RUNS FAILED: $err"
      return 0
    fi
    if ! err=$(verify_"$verify" "$out"); then
      R_STATUS[$id]="WRONG OUTPUT ($err)"; FAILURES+=("$label: wrong output: $err")
      log "  $label run $run/$RUNS WRONG OUTPUT: $err"
      return 0
    fi
    times+=("$(secs "$t0" "$t1")"); synced+=("$(secs "$t0" "$t2")")
    [ -n "$TIME_BIN" ] && rss+=("$(tail -1 "$logf.rss")")
    log "  $label run $run/$RUNS: ${times[-1]} s (+sync ${synced[-1]} s)"
    run=$((run + 1))
  done
  R_MED[$id]=$(median "${times[@]}")
  R_MIN[$id]=$(printf '%s\n' "${times[@]}" | sort -g | head -1)
  R_MAX[$id]=$(printf '%s\n' "${times[@]}" | sort -g | tail -1)
  R_SYNC[$id]=$(median "${synced[@]}")
  if [ ${#rss[@]} -gt 0 ]; then R_RSS[$id]=$(printf '%s\n' "${rss[@]}" | sort -g | tail -1); else R_RSS[$id]=""; fi
}

ok() { [ "${R_STATUS[$1]:-}" = ok ]; }

# ---------------------------------------------------------------------------------------------
# Case 1: large file over HTTP
log "case 1: ${BIG_MIB} MiB file over HTTP (nginx)"
REF=c1_osmo
bench 1 c1_osmo "osmo data download" "$BIG_BYTES" big \
  'env $OSMO_ENV "$OSMO" data download "$HTTP_BASE/big.bin" "$OUT"'
bench 1 c1_curl "curl -o FILE" "$BIG_BYTES" big \
  'curl -sSf -o "$OUT/big.bin" "$HTTP_BASE/big.bin"'

# Case 2: small files from S3 (moto)
log "case 2: $SMALL_COUNT small files from S3 (moto)"
REF=c2_osmo
bench 2 c2_osmo "osmo data download s3://bench/small" "$SMALL_BYTES" tree \
  'env $OSMO_ENV "$OSMO" data download s3://bench/small "$OUT"'
bench 2 c2_awscp "aws s3 cp --recursive" "$SMALL_BYTES" tree \
  'aws --endpoint-url "$S3_EP" s3 cp --recursive --quiet s3://bench/small "$OUT"'
bench 2 c2_awssync "aws s3 sync" "$SMALL_BYTES" tree \
  'aws --endpoint-url "$S3_EP" s3 sync --quiet s3://bench/small "$OUT"'
bench 2 c2_ceiling "moto ceiling: $PAR× parallel curl (SigV4, keep-alive)" "$SMALL_BYTES" tree \
  'xargs -P "$PAR" -n 1 curl -sSf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-content-sha256: $EMPTY_SHA" --create-dirs --output-dir "$OUT" -K < "$CURL_S3_LIST"'

# Case 3: the same small files from nginx as an S3-like front (static listing, no signature check)
log "case 3: $SMALL_COUNT small files from nginx (fast S3-like front)"
REF=c3_osmo
bench 3 c3_osmo "osmo data download s3://bench/small" "$SMALL_BYTES" tree \
  'env $OSMO_ENV AWS_ENDPOINT_URL="$HTTP_BASE" "$OSMO" data download s3://bench/small "$OUT"'
bench 3 c3_awscp "aws s3 cp --recursive" "$SMALL_BYTES" tree \
  'aws --endpoint-url "$HTTP_BASE" s3 cp --recursive --quiet s3://bench/small "$OUT"'
bench 3 c3_awssync "aws s3 sync" "$SMALL_BYTES" tree \
  'aws --endpoint-url "$HTTP_BASE" s3 sync --quiet s3://bench/small "$OUT"'
bench 3 c3_ceiling "nginx ceiling: $PAR× parallel curl (keep-alive)" "$SMALL_BYTES" tree \
  'xargs -P "$PAR" -n 1 curl -sSf --create-dirs --output-dir "$OUT" -K < "$CURL_NGINX_LIST"'

# Case 5 (run before case 4, which uses its extraction-alone figures): local archives
log "case 5: extraction of local archives"
for f in tar tar.gz tar.zst; do
  case $f in tar) gnu="" ;; tar.gz) gnu="-z " ;; tar.zst) gnu="--zstd " ;; esac
  k=${f//./_}
  REF="c5_osmo_$k"
  bench 5 "c5_osmo_$k" "osmo data download file://…/tree.$f" "${ARCHIVE_BYTES[$f]}" tree \
    "env \$OSMO_ENV \"\$OSMO\" data download \"file://\$DATA/tree.$f\" \"\$OUT\""
  bench 5 "c5_bsdtar_$k" "bsdtar -xf tree.$f" "${ARCHIVE_BYTES[$f]}" tree \
    "bsdtar -xf \"\$DATA/tree.$f\" -C \"\$OUT\""
  bench 5 "c5_gnutar_$k" "tar ${gnu}-xf tree.$f (GNU)" "${ARCHIVE_BYTES[$f]}" tree \
    "tar ${gnu}-xf \"\$DATA/tree.$f\" -C \"\$OUT\""
done

# Case 4: archives streamed over HTTP
for rate in fast slow; do
  if [ $rate = fast ]; then base='$HTTP_BASE'; what="unthrottled"; else base='$SLOW_BASE'; what="limit_rate 50m"; fi
  for f in tar.gz tar.zst; do
    k="${rate}_${f//./_}"
    log "case 4: tree.$f over HTTP, $what"
    REF="c4_osmo_$k"
    bench "4$rate" "c4_osmo_$k" "osmo data download (streaming extraction) .$f" "${ARCHIVE_BYTES[$f]}" tree \
      "env \$OSMO_ENV \"\$OSMO\" data download \"$base/tree.$f\" \"\$OUT\""
    bench "4$rate" "c4_seq_$k" "curl -o F && bsdtar -xf F (sequential) .$f" "${ARCHIVE_BYTES[$f]}" tree \
      "curl -sSf -o \"\$OUT.archive\" \"$base/tree.$f\" && bsdtar -xf \"\$OUT.archive\" -C \"\$OUT\""
    bench "4$rate" "c4_pipe_$k" "curl | bsdtar -xf - (piped) .$f" "${ARCHIVE_BYTES[$f]}" tree \
      "curl -sSf \"$base/tree.$f\" | bsdtar -xf - -C \"\$OUT\""
    bench "4$rate" "c4_dl_$k" "download alone: curl -o /dev/null .$f" "${ARCHIVE_BYTES[$f]}" none \
      "curl -sSf -o /dev/null \"$base/tree.$f\""
  done
done

# ---------------------------------------------------------------------------------------------
# Report
fmt() { awk -v v="$1" -v d="${2:-2}" 'BEGIN {printf "%.*f", d, v}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f×", a / b; else print "n/a"}'; }
mbps() { awk -v b="$1" -v t="$2" 'BEGIN {if (b > 0 && t > 0) printf "%.0f", b / t / 1e6; else print "–"}'; }

esc() { local t=${1//|/\\|}; printf '%s' "${t//\`/\'}"; }   # for a Markdown table cell

# table CASE: one row per benchmark; "time ÷ osmo" = the row's median time / that of the osmo
# row of its group (same archive format etc.): > 1 means the row is slower than osmo.
table() {
  local case=$1 id ref rss r1 r2
  echo "| command | median s (min–max) | MB/s | + sync s | peak RSS MiB | time ÷ osmo | (+ sync) |"
  echo "|---|---|---|---|---|---|---|"
  for id in ${CASE_ROWS[$case]}; do
    if ! ok "$id"; then
      echo "| $(esc "${R_LABEL[$id]}") | **$(esc "${R_STATUS[$id]}")** | | | | | |"
      continue
    fi
    rss="–"; [ -n "${R_RSS[$id]}" ] && rss=$(fmt "$(awk -v k="${R_RSS[$id]}" 'BEGIN {print k / 1024}')" 0)
    ref=${R_REF[$id]}; r1="–"; r2="–"
    if [ -n "$ref" ] && [ "$ref" != "$id" ]; then
      r1="n/a"; r2="n/a"
      if ok "$ref"; then r1=$(ratio "${R_MED[$id]}" "${R_MED[$ref]}"); r2=$(ratio "${R_SYNC[$id]}" "${R_SYNC[$ref]}"); fi
    fi
    echo "| $(esc "${R_LABEL[$id]}") | $(fmt "${R_MED[$id]}" 3) ($(fmt "${R_MIN[$id]}" 3)–$(fmt "${R_MAX[$id]}" 3)) | $(mbps "${R_BYTES[$id]}" "${R_MED[$id]}") | $(fmt "${R_SYNC[$id]}" 3) | $rss | $r1 | $r2 |"
  done
}

# goal_line TEXT VALUE OP THRESHOLD: one line of the Goals list (PASS/FAIL/n/a).
goal_line() {
  local text=$1 value=$2 op=$3 thr=$4 verdict
  if [ "$value" = "n/a" ]; then verdict="n/a"
  elif awk -v v="$value" -v t="$thr" -v op="$op" 'BEGIN {exit !(op == ">=" ? v >= t : v <= t)}'; then verdict="PASS"
  else verdict="FAIL"; fi
  [ "$value" = "n/a" ] || value=$(fmt "$value" 2)
  echo "- $text: **$value** (goal $op $thr) — $verdict"
}
quot() {   # a/b of two medians if both ok, else n/a
  if ok "$1" && ok "$2"; then awk -v a="${R_MED[$1]}" -v b="${R_MED[$2]}" 'BEGIN {printf "%.4f", a / b}'; else echo n/a; fi
}
quot_sync() {
  if ok "$1" && ok "$2"; then awk -v a="${R_SYNC[$1]}" -v b="${R_SYNC[$2]}" 'BEGIN {printf "%.4f", a / b}'; else echo n/a; fi
}

mib() { awk -v b="$1" 'BEGIN {printf "%.0f", b / 1048576}'; }
report() {
  echo "# osmo data download — side-by-side benchmark"
  echo
  echo "$(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -sr), median of $RUNS runs$([ "$quick" = 1 ] && echo ', **--quick sizes**')."
  echo "osmo: \`$osmo\` ($(stat -c %s "$osmo") bytes). Datasets: big.bin $(mib "$BIG_BYTES") MiB random;"
  echo "tree of $SMALL_COUNT random files (1–50 KiB) in $SMALL_DIRS dirs, $(mib "$SMALL_BYTES") MiB;"
  echo "tree.tar $(mib "${ARCHIVE_BYTES[tar]}") MiB, tree.tar.gz $(mib "${ARCHIVE_BYTES[tar.gz]}") MiB (\`tar czf\`), tree.tar.zst $(mib "${ARCHIVE_BYTES[tar.zst]}") MiB (\`tar --zstd\`)."
  echo "Servers on 127.0.0.1: nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') (sendfile, keep-alive), moto $(python3 -c 'import moto; print(moto.__version__)') with SigV4 checking (Tests/Servers/s3.py)."
  echo "Peers: $(curl --version | head -1 | cut -d' ' -f1-2), $(bsdtar --version | cut -d' ' -f1-2), $(tar --version | head -1), $(aws --version 2>&1 | cut -d' ' -f1)."
  echo
  echo "MB/s = 10^6 bytes of payload (file, tree or archive) per median second. \"+ sync\" = the command"
  echo "plus a \`sync -f\` of its output (the peers never flush; compare with this column if osmo does)."
  echo "Peak RSS = largest single process of the command (\`/usr/bin/time -f %M\`), max over runs."
  echo "\"time ÷ osmo\" = the row's time over that of the osmo row of its group: > 1 means slower than osmo."
  echo "Page cache warm for every tool alike (nothing is dropped); \`sync\` before each run;"
  echo "every run writes into a new directory."
  echo
  echo "## 1. Large file over HTTP (nginx, $(mib "$BIG_BYTES") MiB)"
  echo
  table 1
  echo
  echo "## 2. Small files from S3 (moto, $SMALL_COUNT files)"
  echo
  echo "moto is a Python server and the bottleneck here: the parallel-curl row shows roughly what it can serve."
  echo
  table 2
  echo
  echo "## 3. The same small files from nginx (fast S3-like front)"
  echo
  echo "The very same tree served by nginx at \`/bench/small/…\` with a static ListObjectsV2 answer for the"
  echo "bucket (real MD5 ETags, signatures not checked, object ETag headers off): the object store is"
  echo "no longer the bottleneck. osmo has no HTTP directory listing (an http:// URL is one object), so"
  echo "it reads this front as S3 (\`AWS_ENDPOINT_URL\` = nginx), like the aws CLI."
  echo
  table 3
  echo
  echo "## 4a. Archive of the tree streamed over HTTP, unthrottled"
  echo
  table 4fast
  echo
  echo "## 4b. Archive of the tree streamed over HTTP, nginx \`limit_rate 50m\` (50 MiB/s = 52.4 MB/s per connection)"
  echo
  table 4slow
  echo
  echo "## 5. Extraction of a local archive into a new directory"
  echo
  table 5
  echo
  echo "## Goals"
  echo
  goal_line "1. osmo throughput ÷ curl throughput (large file)" "$(quot c1_curl c1_osmo)" ">=" 0.95
  goal_line "1. same, each followed by sync -f of its output" "$(quot_sync c1_curl c1_osmo)" ">=" 0.95
  goal_line "2. osmo speed-up over aws s3 cp --recursive (moto)" "$(quot c2_awscp c2_osmo)" ">=" 4
  goal_line "2. osmo speed-up over aws s3 sync (moto)" "$(quot c2_awssync c2_osmo)" ">=" 4
  if ok c2_ceiling; then
    echo "  - for scale: moto's $PAR× parallel curl figure is $(fmt "$(quot c2_awscp c2_ceiling)" 2)× faster than aws s3 cp (moto itself is the bottleneck here)"
  fi
  goal_line "3. osmo speed-up over aws s3 cp --recursive (nginx S3-like front)" "$(quot c3_awscp c3_osmo)" ">=" 4
  goal_line "3. osmo speed-up over aws s3 sync (nginx S3-like front)" "$(quot c3_awssync c3_osmo)" ">=" 4
  local f k base v
  for f in tar.gz tar.zst; do
    k=${f//./_}
    # max(download alone over the throttled port, osmo's own local extraction of the same archive)
    base=n/a
    if ok "c4_dl_slow_$k" && ok "c5_osmo_$k"; then
      base=$(awk -v a="${R_MED[c4_dl_slow_$k]}" -v b="${R_MED[c5_osmo_$k]}" 'BEGIN {print (a > b ? a : b)}')
    fi
    if [ "$base" != n/a ] && ok "c4_osmo_slow_$k"; then v=$(awk -v a="${R_MED[c4_osmo_slow_$k]}" -v b="$base" 'BEGIN {printf "%.4f", a / b}'); else v=n/a; fi
    goal_line "4. throttled .$f: osmo streaming ÷ max(download alone, osmo extraction alone)" "$v" "<=" 1.1
    if ok "c4_dl_slow_$k" && ok "c5_bsdtar_$k" && ok "c4_pipe_slow_$k"; then
      base=$(awk -v a="${R_MED[c4_dl_slow_$k]}" -v b="${R_MED[c5_bsdtar_$k]}" 'BEGIN {print (a > b ? a : b)}')
      v=$(awk -v a="${R_MED[c4_pipe_slow_$k]}" -v b="$base" 'BEGIN {printf "%.4f", a / b}')
      echo "  - for reference, curl | bsdtar ÷ max(download alone, bsdtar extraction alone): $(fmt "$v" 2)"
    fi
  done
  if [ ${#FAILURES[@]} -gt 0 ]; then
    echo
    echo "## Failures"
    echo
    local failure
    for failure in "${FAILURES[@]}"; do echo "- $failure"; done
  fi
}

report > "$WORK/report.md"
cp "$WORK/report.md" "$results"
cat "$WORK/report.md"
log "results written to $results"
log "finished in ${SECONDS} s"
[ ${#FAILURES[@]} -eq 0 ] || exit 1
