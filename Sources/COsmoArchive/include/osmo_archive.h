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

#endif
