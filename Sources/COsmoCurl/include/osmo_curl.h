#ifndef OSMO_CURL_H
#define OSMO_CURL_H

/* Types and constants come from libcurl's headers; the library itself is opened with dlopen
   (osmo_curl_load) so that a missing or broken libcurl disables transfers instead of keeping the
   binary from starting. Every function below calls through the loaded table. */
#include <curl/curl.h>
#include <stddef.h>

/// Opens libcurl from `path` (a file, or NULL for the system's "libcurl.so.4") and runs
/// curl_global_init once. Returns 0, or -1 with a reason copied into `err`.
int osmo_curl_load(const char *path, char *err, size_t errlen);
int osmo_curl_loaded(void);

const char *osmo_curl_version(void);
const curl_version_info_data *osmo_curl_version_info(void);

CURL *osmo_curl_easy_init(void);
void osmo_curl_easy_cleanup(CURL *h);
void osmo_curl_easy_reset(CURL *h);
CURLcode osmo_curl_easy_perform(CURL *h);
CURLcode osmo_curl_easy_pause(CURL *h, int bitmask);
const char *osmo_curl_easy_strerror(CURLcode code);
CURLcode osmo_curl_setopt_long(CURL *h, CURLoption opt, long value);
CURLcode osmo_curl_setopt_off_t(CURL *h, CURLoption opt, curl_off_t value);
CURLcode osmo_curl_setopt_ptr(CURL *h, CURLoption opt, const void *value);
CURLcode osmo_curl_setopt_write(CURL *h, size_t (*fn)(char *, size_t, size_t, void *));
CURLcode osmo_curl_setopt_read(CURL *h, size_t (*fn)(char *, size_t, size_t, void *));
CURLcode osmo_curl_setopt_header(CURL *h, size_t (*fn)(char *, size_t, size_t, void *));
CURLcode osmo_curl_setopt_xferinfo(CURL *h, int (*fn)(void *, curl_off_t, curl_off_t, curl_off_t, curl_off_t));
CURLcode osmo_curl_getinfo_long(CURL *h, CURLINFO info, long *out);
CURLcode osmo_curl_getinfo_off_t(CURL *h, CURLINFO info, curl_off_t *out);
CURLcode osmo_curl_getinfo_string(CURL *h, CURLINFO info, const char **out);

struct curl_slist *osmo_curl_slist_append(struct curl_slist *list, const char *s);
void osmo_curl_slist_free_all(struct curl_slist *list);

CURLM *osmo_curl_multi_init(void);
CURLMcode osmo_curl_multi_cleanup(CURLM *m);
CURLMcode osmo_curl_multi_add_handle(CURLM *m, CURL *h);
CURLMcode osmo_curl_multi_remove_handle(CURLM *m, CURL *h);
CURLMcode osmo_curl_multi_perform(CURLM *m, int *running);
CURLMcode osmo_curl_multi_poll(CURLM *m, int timeout_ms, int *numfds);
CURLMcode osmo_curl_multi_wakeup(CURLM *m);
CURLMcode osmo_curl_multi_setopt_long(CURLM *m, CURLMoption opt, long value);
/// Next finished transfer: returns 1 and fills handle/result, or 0 when none is left.
int osmo_curl_multi_next_done(CURLM *m, CURL **handle, CURLcode *result);
const char *osmo_curl_multi_strerror(CURLMcode code);


/* Digests from the libcrypto that libcurl itself links (found through libcurl's dependency
   tree, so no second copy and no link-time dependency). Kind 0 = MD5, 1 = SHA-256. */
typedef struct osmo_digest osmo_digest;
/// A new digest context, or NULL when libcurl is not loaded or its TLS library is not OpenSSL.
osmo_digest *osmo_digest_new(int kind);
void osmo_digest_update(osmo_digest *d, const void *data, size_t len);
/// Writes the digest to `out` (room for 32 bytes), frees the context, returns the length.
int osmo_digest_final(osmo_digest *d, unsigned char *out);
void osmo_digest_free(osmo_digest *d);

#endif
