#include "osmo_archive.h"

int osmo_archive_read_support_osmo(struct archive *a) {
    int (*const steps[])(struct archive *) = {
        archive_read_support_format_tar,
        archive_read_support_format_gnutar,
        archive_read_support_format_zip,
        archive_read_support_filter_gzip,
        archive_read_support_filter_bzip2,
        archive_read_support_filter_xz,
        archive_read_support_filter_zstd,
        archive_read_support_filter_lz4,
    };
    for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int rc = steps[i](a);
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return rc;
    }
    return ARCHIVE_OK;
}
