#!/usr/bin/env bash
# Builds the portable bundle, which starts in any Linux image (glibc of any version, musl,
# busybox with no libc, scratch), with or without /proc, as PID 1:
#
#   bin/osmo                  the launcher (Launcher/launcher.c, static): finds lib/ from its own
#                             path and runs lib/osmo.real through lib/ld-linux-*.so.*
#   lib/osmo.real             the real binary (release, static Swift stdlib, stripped): needs glibc only
#   lib/ld-linux-x86-64.so.2, lib/libc.so.6, lib/libm.so.6, …
#                             the build machine's glibc, whatever osmo.real needs of it: the image's
#                             libc never matters
#   lib/libgcc_s.so.1         glibc opens it to unwind (pthread_exit, backtrace)
#   lib/libcurl.so.4          HTTP(S)/HTTP2 only, OpenSSL/nghttp2/zlib inside (scripts/build-curl.sh);
#                             opened with dlopen on first use
#   lib/locale/C.utf8/LC_CTYPE
#                             the UTF-8 locale libarchive needs for non-ASCII names
#
# Role names (osmo_init, osmo_ctrl, osmo_exec, osmo-user, …) are hard links or symlinks to
# bin/osmo: the launcher passes argv[0] on. DNS works without the image's help: glibc ≥ 2.34
# has its files and dns NSS modules inside libc.so.6.
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

# The launcher: static, with musl where Debian's musl-tools is installed (40 KB), else glibc's
# static libc (800 KB).
launcher="$PWD/$scratch/osmo-launcher"
if command -v musl-gcc >/dev/null; then
  musl-gcc -static -Os -s -Wall -Wextra -Werror -o "$launcher" Launcher/launcher.c
else
  gcc -static -Os -s -Wall -Wextra -Werror -o "$launcher" Launcher/launcher.c \
    || { echo "bundle: cannot build the static launcher (apt-get install musl-tools)" >&2; exit 1; }
fi

curl_lib="$(scripts/build-curl.sh)" || { echo "bundle: building libcurl failed (scripts/build-curl.sh)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
cp "$launcher" "$out/bin/osmo"
cp "$bin" "$out/lib/osmo.real"
strip "$out/lib/osmo.real"
cp "$curl_lib" "$out/lib/libcurl.so.4"

# glibc's own libraries: the ones osmo.real and libcurl need, resolved on this machine.
glibc_lib() {
  case "$1" in
    ld-linux*|libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libresolv.so.*|libutil.so.*|libanl.so.*|libmvec.so.*) return 0 ;;
  esac
  return 1
}
for elf in "$out/lib/osmo.real" "$out/lib/libcurl.so.4"; do
  while read -r name path; do
    glibc_lib "$name" || { echo "bundle: $(basename "$elf") links $name; expected glibc only" >&2; exit 1; }
    [ -e "$out/lib/$name" ] || cp -L "$path" "$out/lib/$name"
  done < <(ldd "$elf" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3} $1 ~ /^\/.*ld-linux/ {n=split($1, p, "/"); print p[n], $1}')
done
loader="$(patchelf --print-interpreter "$out/lib/osmo.real")"
[ -e "$out/lib/$(basename "$loader")" ] || cp -L "$loader" "$out/lib/$(basename "$loader")"
chmod 0755 "$out/lib/$(basename "$loader")"
libgcc="$(gcc -print-file-name=libgcc_s.so.1)"
[ -f "$libgcc" ] || libgcc="$(ldconfig -p | awk '/libgcc_s\.so\.1 / {print $NF; exit}')"
[ -n "$libgcc" ] && cp -L "$libgcc" "$out/lib/libgcc_s.so.1"
locale_ctype=/usr/lib/locale/C.utf8/LC_CTYPE
[ -f "$locale_ctype" ] || { echo "bundle: $locale_ctype missing (package libc6)" >&2; exit 1; }
mkdir -p "$out/lib/locale/C.utf8"
cp "$locale_ctype" "$out/lib/locale/C.utf8/LC_CTYPE"
chmod 0644 "$out/lib"/*.so* "$out/lib/locale/C.utf8/LC_CTYPE"
chmod 0755 "$out/lib/osmo.real" "$out/lib/$(basename "$loader")"

# What each part weighs.
{
  echo "bundle: $out $(du -sb "$out" | awk '{printf "%.1f MB", $1/1e6}')"
  (cd "$out" && find . -type f -printf '%s %P\n' | sort -rn | awk '{printf "  %-30s %8.2f MB\n", $2, $1/1e6}')
} >&2
