/*
 * bin/osmo in the portable bundle: a tiny static program that starts the real binary
 * (lib/osmo.real) through the glibc loader and libc shipped beside it, so osmo runs in any Linux
 * image — musl, busybox with no libc at all, an older glibc, scratch — with or without /proc.
 *
 * Why a launcher and not PT_INTERP: a fixed interpreter path only works where the bundle sits
 * at that path (the pod), not in a local `dist/osmo` or wherever a user copies it; a static
 * launcher finds the bundle from its own path. Built static (musl-gcc, else gcc -static) so it
 * needs nothing from the image.
 *
 *   <lib>/ld-linux-x86-64.so.2 --inhibit-cache --library-path <lib> --argv0 <argv[0]>
 *       <lib>/osmo.real <args…>
 *
 * argv[0] is kept (it carries the role: osmo_exec, osmo_ctrl, …). The loader's
 * --library-path reaches only this process, never the user's command. The real binary learns
 * where it was started from and which lib dir it runs on from OSMO_LAUNCH_EXE and OSMO_LAUNCH_LIB,
 * which it removes from its environment before anything else (BundleLayout.adoptLaunch), because
 * /proc/self/exe names the loader there.
 *
 * The lib dir: for the launcher's own path (/proc/self/exe if mounted, else argv[0] made a path
 * as a shell would, through $PATH for a bare name) and every step of the symlinks it goes
 * through, `<dir>/../lib` and `<dir>/lib`; then $OSMO_LIB_DIR, /osmo/lib (runtime image) and
 * /osmo/usr/bin/lib (the user container, where osmo_exec is one bind-mounted file). The first
 * holding osmo.real and the loader wins.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__)
#define LOADER "ld-linux-x86-64.so.2"
#elif defined(__aarch64__)
#define LOADER "ld-linux-aarch64.so.1"
#else
#error "unsupported architecture"
#endif

#define MAX_CANDIDATES 128

static char candidates[MAX_CANDIDATES][PATH_MAX];
static int candidate_count;

static void add_candidate(const char *dir) {
    if (candidate_count == MAX_CANDIDATES || strlen(dir) >= PATH_MAX) return;
    for (int i = 0; i < candidate_count; i++)
        if (strcmp(candidates[i], dir) == 0) return;
    strcpy(candidates[candidate_count++], dir);
}

/* The directory part of path ("." for a bare name). */
static void parent(const char *path, char *out) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL) { strcpy(out, "."); return; }
    if (slash == path) { strcpy(out, "/"); return; }
    memcpy(out, path, (size_t)(slash - path));
    out[slash - path] = '\0';
}

/* `<dir of path>/../lib` and `<dir of path>/lib`. */
static void add_beside(const char *path) {
    char dir[PATH_MAX], lib[PATH_MAX];
    parent(path, dir);
    if (snprintf(lib, sizeof lib, "%s/../lib", dir) < (int)sizeof lib) add_candidate(lib);
    if (snprintf(lib, sizeof lib, "%s/lib", dir) < (int)sizeof lib) add_candidate(lib);
}

static int is_executable_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* argv[0] as a path: as given when it holds a slash, else the first executable on $PATH. */
static int invoked_path(const char *argv0, char *out) {
    if (argv0 == NULL || argv0[0] == '\0') return 0;
    if (strchr(argv0, '/') != NULL) {
        if (strlen(argv0) >= PATH_MAX) return 0;
        strcpy(out, argv0);
        return 1;
    }
    const char *path = getenv("PATH");
    if (path == NULL) path = "/usr/local/bin:/usr/bin:/bin";
    while (1) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        int n = len == 0 ? snprintf(out, PATH_MAX, "./%s", argv0)
                         : snprintf(out, PATH_MAX, "%.*s/%s", (int)len, path, argv0);
        if (n < PATH_MAX && is_executable_file(out)) return 1;
        if (end == NULL) return 0;
        path = end + 1;
    }
}

/* Adds the candidates beside path and beside each symlink target it leads to. */
static void add_following_links(const char *start) {
    char path[PATH_MAX], target[PATH_MAX], next[PATH_MAX];
    strcpy(path, start);
    for (int hop = 0; hop < 40; hop++) {
        add_beside(path);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n <= 0) return;
        target[n] = '\0';
        if (target[0] == '/') {
            strcpy(next, target);
        } else {
            char dir[PATH_MAX];
            parent(path, dir);
            if (snprintf(next, sizeof next, "%s/%s", dir, target) >= (int)sizeof next) return;
        }
        strcpy(path, next);
    }
}

static int has_bundle(const char *dir) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/osmo.real", dir) >= (int)sizeof path || !is_executable_file(path)) return 0;
    if (snprintf(path, sizeof path, "%s/" LOADER, dir) >= (int)sizeof path) return 0;
    return access(path, X_OK) == 0;
}

int main(int argc, char **argv) {
    const char *argv0 = argc > 0 && argv[0] ? argv[0] : "osmo";
    char self[PATH_MAX] = "", invoked[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) self[n] = '\0'; else self[0] = '\0';
    int have_invoked = invoked_path(argv0, invoked);

    if (have_invoked) add_following_links(invoked);
    if (self[0]) add_beside(self);
    const char *env_lib = getenv("OSMO_LIB_DIR");
    if (env_lib && env_lib[0]) add_candidate(env_lib);
    add_candidate("/osmo/lib");
    add_candidate("/osmo/usr/bin/lib");

    const char *lib = NULL;
    for (int i = 0; i < candidate_count && lib == NULL; i++)
        if (has_bundle(candidates[i])) lib = candidates[i];
    if (lib == NULL) {
        fprintf(stderr, "%s: cannot find the osmo bundle (lib/osmo.real and lib/" LOADER "); looked in:", argv0);
        for (int i = 0; i < candidate_count; i++) fprintf(stderr, " %s", candidates[i]);
        fprintf(stderr, "\n");
        return 127;
    }

    /* Canonical, so that paths derived from it read as the layout (/osmo/lib, not
     * /osmo/bin/../lib); musl's realpath needs no /proc. */
    static char canonical[PATH_MAX];
    if (realpath(lib, canonical) != NULL) lib = canonical;

    /* What the real binary would have seen as its own path without the loader in between. */
    const char *exe = self[0] ? self : (have_invoked ? invoked : "");
    if (setenv("OSMO_LAUNCH_EXE", exe, 1) != 0 || setenv("OSMO_LAUNCH_LIB", lib, 1) != 0) {
        fprintf(stderr, "%s: setenv: %s\n", argv0, strerror(errno));
        return 127;
    }

    char loader[PATH_MAX + 32], real[PATH_MAX + 32];
    snprintf(loader, sizeof loader, "%s/" LOADER, lib);
    snprintf(real, sizeof real, "%s/osmo.real", lib);
    char **args = calloc((size_t)argc + 8, sizeof *args);
    if (args == NULL) { fprintf(stderr, "%s: out of memory\n", argv0); return 127; }
    int k = 0;
    args[k++] = loader;
    args[k++] = "--inhibit-cache";
    args[k++] = "--library-path";
    args[k++] = (char *)lib;
    args[k++] = "--argv0";
    args[k++] = (char *)argv0;
    args[k++] = real;
    for (int i = 1; i < argc; i++) args[k++] = argv[i];
    args[k] = NULL;
    execv(loader, args);
    fprintf(stderr, "%s: cannot run %s: %s\n", argv0, loader, strerror(errno));
    return 127;
}
