#include "osmo_archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

typedef int (*osmo_support_step)(struct archive *);

/* Runs each registration; a warning (e.g. a filter that falls back to an external program) is fine. */
static int osmo_run_steps(struct archive *a, const osmo_support_step *steps, unsigned count) {
    for (unsigned i = 0; i < count; i++) {
        int rc = steps[i](a);
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return rc;
    }
    return ARCHIVE_OK;
}

int osmo_archive_read_support_osmo(struct archive *a) {
    const osmo_support_step steps[] = {
        archive_read_support_format_tar,
        archive_read_support_format_gnutar,
        archive_read_support_format_zip,
        archive_read_support_filter_gzip,
        archive_read_support_filter_bzip2,
        archive_read_support_filter_xz,
        archive_read_support_filter_zstd,
        archive_read_support_filter_lz4,
    };
    return osmo_run_steps(a, steps, sizeof(steps) / sizeof(steps[0]));
}

int osmo_archive_read_support_decompress(struct archive *a) {
    const osmo_support_step steps[] = {
        archive_read_support_format_raw,
        archive_read_support_filter_bzip2,
        archive_read_support_filter_xz,
        archive_read_support_filter_zstd,
        archive_read_support_filter_lz4,
    };
    return osmo_run_steps(a, steps, sizeof(steps) / sizeof(steps[0]));
}

int osmo_archive_read_support_tar(struct archive *a) {
    const osmo_support_step steps[] = { archive_read_support_format_tar, archive_read_support_format_gnutar };
    return osmo_run_steps(a, steps, 2);
}

struct osmo_gunzip {
    z_stream z;
    int between;   /* 1: a member ended; only padding or another member may follow */
    int members;
    int trailing;  /* 1: past the last member, ignoring what follows */
    char message[160];
};

osmo_gunzip *osmo_gunzip_new(void) {
    osmo_gunzip *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) { free(g); return NULL; }
    return g;
}

void osmo_gunzip_free(osmo_gunzip *g) {
    if (!g) return;
    inflateEnd(&g->z);
    free(g);
}

const char *osmo_gunzip_error(const osmo_gunzip *g) { return g->message; }

int osmo_gunzip_complete(const osmo_gunzip *g) { return g->between && g->members > 0; }

long osmo_gunzip_run(osmo_gunzip *g, const unsigned char *in, size_t in_len, size_t *consumed,
                     unsigned char *out, size_t out_len) {
    size_t skipped = 0;
    *consumed = 0;
    if (g->between) {
        /* Zero padding after the last member is tolerated (tape-style blocking). */
        while (skipped < in_len && in[skipped] == 0) skipped++;
        if (skipped == in_len) { *consumed = skipped; return 0; }
        if (g->trailing || in[skipped] != 0x1f) {
            /* Data after the last member that is not another member: ignored, as gzip(1) and
               libarchive do (some tools append padding or signatures). */
            g->trailing = 1;
            *consumed = in_len;
            return 0;
        }
        if (inflateReset(&g->z) != Z_OK) {
            snprintf(g->message, sizeof g->message, "cannot restart the gzip decoder");
            return -1;
        }
        g->between = 0;
    }
    g->z.next_in = (Bytef *)(in + skipped);
    g->z.avail_in = (uInt)(in_len - skipped);
    g->z.next_out = out;
    g->z.avail_out = (uInt)out_len;
    int rc = inflate(&g->z, Z_NO_FLUSH);
    *consumed = in_len - g->z.avail_in;
    long produced = (long)(out_len - g->z.avail_out);
    if (rc == Z_STREAM_END) {
        g->between = 1;
        g->members++;
        return produced;
    }
    if (rc == Z_OK || (rc == Z_BUF_ERROR && (produced > 0 || *consumed > 0 || g->z.avail_in == 0))) return produced;
    snprintf(g->message, sizeof g->message, "gzip data is corrupt: %s", g->z.msg ? g->z.msg : "inflate failed");
    return -1;
}
