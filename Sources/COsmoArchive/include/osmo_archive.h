#ifndef OSMO_ARCHIVE_H
#define OSMO_ARCHIVE_H

/* libarchive, linked statically. Swift imports archive.h directly; this header only adds what a
   Swift caller cannot express: registering exactly the formats and filters we support (never
   the "all" variants, which would pull in the xar reader and with it libxml2 and ICU). */
#include <archive.h>
#include <archive_entry.h>

/// Enables tar (all variants), zip (streaming), raw-less detection and the gzip, bzip2, xz,
/// zstd and lz4 decompressors on a read handle. Returns ARCHIVE_OK or an error code.
int osmo_archive_read_support_osmo(struct archive *a);

/// The decompression stage of a compressed tar: the raw format with the bzip2, xz, zstd and lz4
/// filters (their libraries verify each stream's checksum once it is read to its end).
int osmo_archive_read_support_decompress(struct archive *a);
/// tar formats only, for a stream that is already decompressed.
int osmo_archive_read_support_tar(struct archive *a);

/// gzip decoding with zlib, which verifies every member's CRC-32 and length (libarchive's own
/// gzip reader does not). Multi-member streams are read whole; data after the last member
/// that is not another member is ignored, as gzip(1) does.
typedef struct osmo_gunzip osmo_gunzip;
osmo_gunzip *osmo_gunzip_new(void);
void osmo_gunzip_free(osmo_gunzip *g);
/// Decodes from `in` into `out`: returns the bytes produced (0 = needs more input) and sets
/// `consumed`, or -1 on corrupt data (osmo_gunzip_error says why).
long osmo_gunzip_run(osmo_gunzip *g, const unsigned char *in, size_t in_len, size_t *consumed,
                     unsigned char *out, size_t out_len);
const char *osmo_gunzip_error(const osmo_gunzip *g);
/// 1 when the input so far ends exactly at the end of a member (not truncated).
int osmo_gunzip_complete(const osmo_gunzip *g);

#endif
