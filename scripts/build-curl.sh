#!/usr/bin/env bash
# Builds the bundle's libcurl: one self-contained libcurl.so.4 from Debian's own source package
# (the release's patches applied), with only what osmo uses — HTTP/1.1, HTTP/2 (nghttp2), HTTPS
# with OpenSSL, zlib, file:// — and OpenSSL and zlib linked in statically from their Debian -dev
# packages' archives, nghttp2 from its own Debian source package. It needs nothing but glibc (libc.so.6), where Debian's libcurl4
# pulls in 17 MB of GnuTLS, LDAP, Kerberos, RTMP, SSH, … that osmo never calls.
#
# Exported: curl_* and the few EVP_* digest calls that Sources/COsmoCurl looks up through the
# libcurl handle; everything else is local, so the linker drops what curl does not reach.
#
# The result is cached under $OSMO_CURL_CACHE (default .build-curl/, gitignored) by source
# version, so reruns cost nothing. Prints the library's path on stdout.
#
# Usage: scripts/build-curl.sh          Needs: dpkg-dev, gcc, make, libssl-dev, zlib1g-dev (scripts/setup.sh installs them) and Debian's
#                                       source mirror (deb.debian.org) on first run.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="$(realpath -m "${OSMO_CURL_CACHE:-.build-curl}")"
fail() { echo "build-curl: $*" >&2; exit 1; }

multiarch="$(gcc -print-multiarch)"
libdir="/usr/lib/$multiarch"
for archive in libssl.a libcrypto.a libz.a; do
  [ -f "$libdir/$archive" ] || fail "$libdir/$archive missing (apt-get install libssl-dev zlib1g-dev)"
done
command -v dpkg-source >/dev/null || fail "dpkg-source missing (apt-get install dpkg-dev)"

# A private apt state holding only deb-src lines for this release: nothing under /etc changes.
. /etc/os-release
codename="${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}"
apt_dir="$cache/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/parts" "$apt_dir/archives/partial"
cat > "$apt_dir/sources.list" <<EOF
deb-src http://deb.debian.org/debian $codename main
deb-src http://deb.debian.org/debian $codename-updates main
deb-src http://deb.debian.org/debian-security $codename-security main
EOF
apt_opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts="$apt_dir/parts"
          -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache::Archives="$apt_dir/archives"
          -o Dir::Cache::pkgcache="" -o Dir::Cache::srcpkgcache="" -o APT::Sandbox::User=root)

# The source version: the one the installed headers came from if the mirror still has it, else
# the release's newest. A cached build of either is reused without asking the network.
installed="$(dpkg-query -W -f='${Version}' libcurl4-openssl-dev 2>/dev/null || true)"
if [ -n "$installed" ] && [ -f "$cache/$installed/libcurl.so.4" ]; then
  echo "$cache/$installed/libcurl.so.4"; exit 0
fi
apt-get "${apt_opts[@]}" -qq update >&2 || fail "apt-get update of the deb-src lists failed (is deb.debian.org reachable?)"
versions="$(apt-cache "${apt_opts[@]}" showsrc curl 2>/dev/null | awk '/^Version:/ {print $2}')"
[ -n "$versions" ] || fail "no curl source package for $codename"
if [ -n "$installed" ] && grep -qxF "$installed" <<<"$versions"; then version="$installed"
else version="$(sort -V <<<"$versions" | tail -1)"; fi
out="$cache/$version"
if [ -f "$out/libcurl.so.4" ]; then echo "$out/libcurl.so.4"; exit 0; fi

work="$cache/work-$version"
rm -rf "$work"; mkdir -p "$work"
# Unpacks Debian's source package $1 at version $2 (its patches applied) and prints its directory.
unpack() {
  (cd "$work" && apt-get "${apt_opts[@]}" -qq source "$1=$2" >&2) || fail "apt-get source $1=$2 failed"
  find "$work" -mindepth 1 -maxdepth 1 -type d -name "$1-*" | head -1
}
src="$(unpack curl "$version")"
[ -n "$src" ] || fail "no unpacked curl source under $work"
jobs="$(nproc)"

# nghttp2 from source too: Debian's libnghttp2.a is built position-dependent (PIE objects that
# reference glibc's data by PC-relative address) and cannot go into a shared library.
nghttp2_version="$(apt-cache "${apt_opts[@]}" showsrc nghttp2 2>/dev/null | awk '/^Version:/ {print $2}' | sort -V | tail -1)"
installed_nghttp2="$(dpkg-query -W -f='${source:Version}' libnghttp2-dev 2>/dev/null || true)"
if [ -n "$installed_nghttp2" ] && apt-cache "${apt_opts[@]}" showsrc nghttp2 2>/dev/null | grep -qx "Version: $installed_nghttp2"; then
  nghttp2_version="$installed_nghttp2"
fi
[ -n "$nghttp2_version" ] || fail "no nghttp2 source package for $codename"
nghttp2_src="$(unpack nghttp2 "$nghttp2_version")"
[ -n "$nghttp2_src" ] || fail "no unpacked nghttp2 source under $work"
nghttp2_prefix="$work/nghttp2"
# The library part only, compiled directly: the source is a git snapshot (no configure script)
# and needs no configuration beyond these POSIX headers; its version header is generated as
# its build system would.
(
  set -e
  cd "$nghttp2_src/lib"
  upstream="$(sed -n 's/^AC_INIT(\[nghttp2\], \[\([0-9.]*\)\].*/\1/p' ../configure.ac)"
  [ -n "$upstream" ] || { echo "no version in nghttp2's configure.ac" >&2; exit 1; }
  num="$(awk -F. '{printf "0x%02x%02x%02x", $1, $2, $3}' <<<"$upstream")"
  sed -e "s/@PACKAGE_VERSION@/$upstream/" -e "s/@PACKAGE_VERSION_NUM@/$num/" \
    includes/nghttp2/nghttp2ver.h.in > includes/nghttp2/nghttp2ver.h
  mkdir -p "$nghttp2_prefix/include/nghttp2" "$nghttp2_prefix/lib/pkgconfig" objects
  for c in *.c; do
    gcc -O2 -fPIC -ffunction-sections -fdata-sections -Iincludes -DBUILDING_NGHTTP2 \
      -DHAVE_TIME_H -DHAVE_CLOCK_GETTIME -DHAVE_NETINET_IN_H -DHAVE_ARPA_INET_H \
      -c "$c" -o "objects/${c%.c}.o"
  done
  ar rcs "$nghttp2_prefix/lib/libnghttp2.a" objects/*.o
  cp includes/nghttp2/nghttp2.h includes/nghttp2/nghttp2ver.h "$nghttp2_prefix/include/nghttp2/"
  printf 'prefix=%s\nlibdir=${prefix}/lib\nincludedir=${prefix}/include\n\nName: libnghttp2\nDescription: HTTP/2 C library\nVersion: %s\nLibs: -L${libdir} -lnghttp2\nCflags: -I${includedir}\n' \
    "$nghttp2_prefix" "$upstream" > "$nghttp2_prefix/lib/pkgconfig/libnghttp2.pc"
) || fail "building nghttp2 $nghttp2_version failed (see above)"

# Static, position-independent objects with default visibility (hiding happens at the link,
# by the export map); every protocol and library osmo does not use is off.
jobs="$(nproc)"
(
  cd "$src"
  CFLAGS="-O2 -fPIC -ffunction-sections -fdata-sections" \
  LIBS="-lpthread" PKG_CONFIG_PATH="$nghttp2_prefix/lib/pkgconfig" \
  ./configure --quiet --disable-shared --enable-static --with-pic \
    --with-openssl --with-nghttp2="$nghttp2_prefix" --with-zlib \
    --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --with-ca-path=/etc/ssl/certs \
    --enable-http --enable-file --enable-proxy --enable-cookies --enable-threaded-resolver \
    --disable-ftp --disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet \
    --disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp --disable-gopher \
    --disable-mqtt --disable-manual --disable-ntlm-wb --disable-symbol-hiding \
    --without-libpsl --without-libidn2 --without-brotli --without-zstd --without-librtmp \
    --without-libssh2 --without-libssh --without-gssapi --without-libgsasl --without-ngtcp2 \
    --without-nghttp3 --without-quiche --without-hyper --without-gnutls --without-nss \
    --without-wolfssl --without-mbedtls --without-rustls --without-bearssl >&2
  make -s -j"$jobs" -C lib >&2
) || fail "configuring or compiling curl $version failed (see above)"

archive="$src/lib/.libs/libcurl.a"
[ -f "$archive" ] || fail "$archive was not built"
mkdir -p "$work/link"
cat > "$work/link/exports.map" <<'EOF'
{
  global:
    curl_*;
    EVP_MD_CTX_new; EVP_MD_CTX_free; EVP_md5; EVP_sha256;
    EVP_DigestInit_ex; EVP_DigestUpdate; EVP_DigestFinal_ex;
  local: *;
};
EOF
# The digest entry points are pulled in explicitly (-u): curl alone need not reference them all.
undefined=()
for symbol in EVP_MD_CTX_new EVP_MD_CTX_free EVP_md5 EVP_sha256 EVP_DigestInit_ex EVP_DigestUpdate EVP_DigestFinal_ex; do
  undefined+=(-Wl,-u,"$symbol")
done
gcc -shared -o "$work/link/libcurl.so.4" -Wl,-soname,libcurl.so.4 \
  -Wl,--version-script="$work/link/exports.map" -Wl,--gc-sections -Wl,-z,defs -Wl,-Bsymbolic \
  "${undefined[@]}" -Wl,--whole-archive "$archive" -Wl,--no-whole-archive \
  "$nghttp2_prefix/lib/libnghttp2.a" "$libdir/libssl.a" "$libdir/libcrypto.a" "$libdir/libz.a" \
  -static-libgcc -lpthread -ldl -lc || fail "linking libcurl.so.4 failed"
strip --strip-unneeded "$work/link/libcurl.so.4"

# It must need glibc only, and export what COsmoCurl looks up.
needed="$(objdump -p "$work/link/libcurl.so.4" | awk '/NEEDED/ {print $2}' | sort | tr '\n' ' ')"
for lib in $needed; do
  case "$lib" in libc.so.6|libm.so.6|libpthread.so.0|libdl.so.2|ld-linux*) ;; *) fail "libcurl.so.4 needs $lib" ;; esac
done
for symbol in curl_easy_init curl_multi_perform EVP_MD_CTX_new EVP_sha256 EVP_DigestFinal_ex; do
  nm -D --defined-only "$work/link/libcurl.so.4" | grep -qw "$symbol" || fail "libcurl.so.4 does not export $symbol"
done

mkdir -p "$out"
mv "$work/link/libcurl.so.4" "$out/libcurl.so.4"
rm -rf "$work"
echo "build-curl: curl $version → $out/libcurl.so.4 ($(du -h "$out/libcurl.so.4" | cut -f1), needs: $needed)" >&2
echo "$out/libcurl.so.4"
