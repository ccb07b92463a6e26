#include "osmo_curl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* One pointer per libcurl function we call; filled once by osmo_curl_load. */
static struct {
    void *lib;
    CURLcode (*global_init)(long);
    char *(*version)(void);
    curl_version_info_data *(*version_info)(CURLversion);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_pause)(CURL *, int);
    const char *(*easy_strerror)(CURLcode);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
    CURLMcode (*multi_wakeup)(CURLM *);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    const char *(*multi_strerror)(CURLMcode);
} api;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int load_state; /* 0 = not tried, 1 = loaded */

#define OSMO_SYM(field, name)                                              \
    do {                                                                   \
        *(void **)(&api.field) = dlsym(api.lib, name);                     \
        if (api.field == NULL) {                                           \
            snprintf(err, errlen, "libcurl has no symbol %s", name);       \
            goto fail;                                                     \
        }                                                                  \
    } while (0)

int osmo_curl_load(const char *path, char *err, size_t errlen) {
    pthread_mutex_lock(&load_lock);
    if (load_state == 1) { pthread_mutex_unlock(&load_lock); return 0; }
    api.lib = dlopen(path ? path : "libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (api.lib == NULL) {
        snprintf(err, errlen, "%s", dlerror());
        pthread_mutex_unlock(&load_lock);
        return -1;
    }
    OSMO_SYM(global_init, "curl_global_init");
    OSMO_SYM(version, "curl_version");
    OSMO_SYM(version_info, "curl_version_info");
    OSMO_SYM(easy_init, "curl_easy_init");
    OSMO_SYM(easy_cleanup, "curl_easy_cleanup");
    OSMO_SYM(easy_reset, "curl_easy_reset");
    OSMO_SYM(easy_perform, "curl_easy_perform");
    OSMO_SYM(easy_pause, "curl_easy_pause");
    OSMO_SYM(easy_strerror, "curl_easy_strerror");
    OSMO_SYM(easy_setopt, "curl_easy_setopt");
    OSMO_SYM(easy_getinfo, "curl_easy_getinfo");
    OSMO_SYM(slist_append, "curl_slist_append");
    OSMO_SYM(slist_free_all, "curl_slist_free_all");
    OSMO_SYM(multi_init, "curl_multi_init");
    OSMO_SYM(multi_cleanup, "curl_multi_cleanup");
    OSMO_SYM(multi_add_handle, "curl_multi_add_handle");
    OSMO_SYM(multi_remove_handle, "curl_multi_remove_handle");
    OSMO_SYM(multi_perform, "curl_multi_perform");
    OSMO_SYM(multi_poll, "curl_multi_poll");
    OSMO_SYM(multi_wakeup, "curl_multi_wakeup");
    OSMO_SYM(multi_setopt, "curl_multi_setopt");
    OSMO_SYM(multi_info_read, "curl_multi_info_read");
    OSMO_SYM(multi_strerror, "curl_multi_strerror");
    if (api.global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init failed");
        goto fail;
    }
    load_state = 1;
    pthread_mutex_unlock(&load_lock);
    return 0;
fail:
    dlclose(api.lib);
    memset(&api, 0, sizeof(api));
    pthread_mutex_unlock(&load_lock);
    return -1;
}

int osmo_curl_loaded(void) { return load_state; }

const char *osmo_curl_version(void) { return api.version(); }
const curl_version_info_data *osmo_curl_version_info(void) { return api.version_info(CURLVERSION_NOW); }

CURL *osmo_curl_easy_init(void) { return api.easy_init(); }
void osmo_curl_easy_cleanup(CURL *h) { api.easy_cleanup(h); }
void osmo_curl_easy_reset(CURL *h) { api.easy_reset(h); }
CURLcode osmo_curl_easy_perform(CURL *h) { return api.easy_perform(h); }
CURLcode osmo_curl_easy_pause(CURL *h, int bitmask) { return api.easy_pause(h, bitmask); }
const char *osmo_curl_easy_strerror(CURLcode code) { return api.easy_strerror(code); }
CURLcode osmo_curl_setopt_long(CURL *h, CURLoption opt, long value) { return api.easy_setopt(h, opt, value); }
CURLcode osmo_curl_setopt_off_t(CURL *h, CURLoption opt, curl_off_t value) { return api.easy_setopt(h, opt, value); }
CURLcode osmo_curl_setopt_ptr(CURL *h, CURLoption opt, const void *value) { return api.easy_setopt(h, opt, value); }
CURLcode osmo_curl_setopt_write(CURL *h, size_t (*fn)(char *, size_t, size_t, void *)) {
    return api.easy_setopt(h, CURLOPT_WRITEFUNCTION, fn);
}
CURLcode osmo_curl_setopt_read(CURL *h, size_t (*fn)(char *, size_t, size_t, void *)) {
    return api.easy_setopt(h, CURLOPT_READFUNCTION, fn);
}
CURLcode osmo_curl_setopt_header(CURL *h, size_t (*fn)(char *, size_t, size_t, void *)) {
    return api.easy_setopt(h, CURLOPT_HEADERFUNCTION, fn);
}
CURLcode osmo_curl_setopt_xferinfo(CURL *h, int (*fn)(void *, curl_off_t, curl_off_t, curl_off_t, curl_off_t)) {
    return api.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, fn);
}
CURLcode osmo_curl_getinfo_long(CURL *h, CURLINFO info, long *out) { return api.easy_getinfo(h, info, out); }
CURLcode osmo_curl_getinfo_off_t(CURL *h, CURLINFO info, curl_off_t *out) { return api.easy_getinfo(h, info, out); }
CURLcode osmo_curl_getinfo_string(CURL *h, CURLINFO info, const char **out) { return api.easy_getinfo(h, info, out); }

struct curl_slist *osmo_curl_slist_append(struct curl_slist *list, const char *s) { return api.slist_append(list, s); }
void osmo_curl_slist_free_all(struct curl_slist *list) { api.slist_free_all(list); }

CURLM *osmo_curl_multi_init(void) { return api.multi_init(); }
CURLMcode osmo_curl_multi_cleanup(CURLM *m) { return api.multi_cleanup(m); }
CURLMcode osmo_curl_multi_add_handle(CURLM *m, CURL *h) { return api.multi_add_handle(m, h); }
CURLMcode osmo_curl_multi_remove_handle(CURLM *m, CURL *h) { return api.multi_remove_handle(m, h); }
CURLMcode osmo_curl_multi_perform(CURLM *m, int *running) { return api.multi_perform(m, running); }
CURLMcode osmo_curl_multi_poll(CURLM *m, int timeout_ms, int *numfds) {
    return api.multi_poll(m, NULL, 0, timeout_ms, numfds);
}
CURLMcode osmo_curl_multi_wakeup(CURLM *m) { return api.multi_wakeup(m); }
CURLMcode osmo_curl_multi_setopt_long(CURLM *m, CURLMoption opt, long value) { return api.multi_setopt(m, opt, value); }
int osmo_curl_multi_next_done(CURLM *m, CURL **handle, CURLcode *result) {
    int left = 0;
    CURLMsg *msg;
    while ((msg = api.multi_info_read(m, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            *handle = msg->easy_handle;
            *result = msg->data.result;
            return 1;
        }
    }
    return 0;
}
const char *osmo_curl_multi_strerror(CURLMcode code) { return api.multi_strerror(code); }

/* MARK: digests through libcurl's libcrypto */

static struct {
    int state; /* 0 = not tried, 1 = ready, -1 = unavailable */
    void *(*ctx_new)(void);
    void (*ctx_free)(void *);
    const void *(*md5)(void);
    const void *(*sha256)(void);
    int (*init)(void *, const void *, void *);
    int (*update)(void *, const void *, size_t);
    int (*final)(void *, unsigned char *, unsigned int *);
} crypto;

static int crypto_ready(void) {
    pthread_mutex_lock(&load_lock);
    if (crypto.state == 0) {
        crypto.state = -1;
        if (load_state == 1) {
            *(void **)&crypto.ctx_new = dlsym(api.lib, "EVP_MD_CTX_new");
            *(void **)&crypto.ctx_free = dlsym(api.lib, "EVP_MD_CTX_free");
            *(void **)&crypto.md5 = dlsym(api.lib, "EVP_md5");
            *(void **)&crypto.sha256 = dlsym(api.lib, "EVP_sha256");
            *(void **)&crypto.init = dlsym(api.lib, "EVP_DigestInit_ex");
            *(void **)&crypto.update = dlsym(api.lib, "EVP_DigestUpdate");
            *(void **)&crypto.final = dlsym(api.lib, "EVP_DigestFinal_ex");
            if (crypto.ctx_new && crypto.ctx_free && crypto.md5 && crypto.sha256 && crypto.init &&
                crypto.update && crypto.final)
                crypto.state = 1;
        }
    }
    int ready = crypto.state == 1;
    pthread_mutex_unlock(&load_lock);
    return ready;
}

osmo_digest *osmo_digest_new(int kind) {
    if (!crypto_ready()) return NULL;
    void *ctx = crypto.ctx_new();
    if (ctx == NULL) return NULL;
    if (crypto.init(ctx, kind == 0 ? crypto.md5() : crypto.sha256(), NULL) != 1) {
        crypto.ctx_free(ctx);
        return NULL;
    }
    return (osmo_digest *)ctx;
}

void osmo_digest_update(osmo_digest *d, const void *data, size_t len) { crypto.update(d, data, len); }

int osmo_digest_final(osmo_digest *d, unsigned char *out) {
    unsigned int len = 0;
    crypto.final(d, out, &len);
    crypto.ctx_free(d);
    return (int)len;
}

void osmo_digest_free(osmo_digest *d) { crypto.ctx_free(d); }
