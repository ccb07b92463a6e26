#!/usr/bin/env bash
# Builds the portable bundle: dist/osmo/bin/osmo (release, static Swift stdlib, stripped) plus
# dist/osmo/lib/ = libcurl and every shared library it needs except glibc's own.
#
# The binary itself links only glibc (libarchive and its codecs are static); libcurl is opened
# with dlopen from ../lib beside the binary, so the bundle runs in any container with glibc ≥ 2.35,
# with or without /proc. Each bundled library gets RUNPATH=$ORIGIN so its own dependencies are
# found next to it (a library's $ORIGIN comes from its path, which needs no /proc).
#
# Usage: scripts/bundle.sh [OUT_DIR]   (default: dist/osmo)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist/osmo}"
scratch="${OSMO_RELEASE_SCRATCH:-.build-release}"

# libstdc++ and libgcc_s are not part of glibc: link them statically too. The Swift driver adds a
# plain `-lstdc++`; a directory searched first whose libstdc++.so is the static archive (ld goes by
# content, not name) turns that into a static link without patching the toolchain's files.
static_dir="$PWD/$scratch/static-libs"
mkdir -p "$static_dir"
libstdcxx_a="$(g++ -print-file-name=libstdc++.a)"
[ -f "$libstdcxx_a" ] || { echo "bundle: libstdc++.a not found (apt-get install libstdc++-12-dev)" >&2; exit 1; }
ln -sf "$libstdcxx_a" "$static_dir/libstdc++.so"
# Nothing outside the binary links against it: a version script that keeps every symbol local
# lets the linker drop what only the dynamic symbol table kept alive (about 3 MB).
printf '{ local: *; };\n' > "$static_dir/hide-all.map"
flags=(-c release --static-swift-stdlib --product osmo --scratch-path "$scratch"
       -Xlinker -L"$static_dir" -Xswiftc -Xclang-linker -Xswiftc -static-libgcc
       -Xlinker --version-script="$static_dir/hide-all.map")
swift build "${flags[@]}" >&2
bin="$(swift build "${flags[@]}" --show-bin-path)/osmo"

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
cp "$bin" "$out/bin/osmo"
strip "$out/bin/osmo"

# glibc's libraries come from the user's image: never bundle them.
is_glibc() {
  case "$1" in
    ld-linux*|libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libresolv.so.*|libutil.so.*|libanl.so.*|libnsl.so.1|libmvec.so.*|libBrokenLocale.so.*|libnss_*|libthread_db.so.*|linux-vdso.so.*) return 0 ;;
  esac
  return 1
}

# The binary must need nothing but glibc.
while read -r lib; do
  is_glibc "$lib" || { echo "bundle: osmo links $lib dynamically; expected glibc only" >&2; exit 1; }
done < <(patchelf --print-needed "$out/bin/osmo")

curl_path="$(ldconfig -p | awk '/libcurl\.so\.4 .*x86-64|libcurl\.so\.4 .*AArch64/ {print $NF; exit}')"
[ -n "$curl_path" ] || { echo "bundle: libcurl.so.4 not found (apt-get install libcurl4-openssl-dev)" >&2; exit 1; }

copy_lib() {
  local path="$1" name
  name="$(basename "$path")"
  [ -e "$out/lib/$name" ] && return 0
  cp -L "$path" "$out/lib/$name"
  chmod 0644 "$out/lib/$name"
  patchelf --set-rpath '$ORIGIN' "$out/lib/$name"
  strip --strip-unneeded "$out/lib/$name" 2>/dev/null || true
}

copy_lib "$curl_path"
# ldd resolves the whole closure; keep everything that is not glibc.
ldd "$curl_path" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r name path; do
  is_glibc "$name" || copy_lib "$path"
done

echo "bundle: $out ($(du -sh "$out" | cut -f1)): bin/osmo $(du -h "$out/bin/osmo" | cut -f1), lib/ $(ls "$out/lib" | wc -l) libraries $(du -sh "$out/lib" | cut -f1)" >&2
