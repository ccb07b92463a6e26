#include "osmo_sys.h"

#include <sys/ioctl.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

static int saved_argc;
static char **saved_argv;

/* glibc passes (argc, argv, envp) to ELF constructors. */
__attribute__((constructor)) static void osmo_capture_args(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}

int osmo_argc(void) { return saved_argc; }
void osmo_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
char *const *osmo_argv(void) { return saved_argv; }

/* Shared by both spawn forms: empty signal mask, default dispositions, the session/group flags. */
static int spawn_with(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                      posix_spawn_file_actions_t *actions, int flags) {
    posix_spawnattr_t attr;
    int rc = posix_spawnattr_init(&attr);
    if (rc != 0) return rc;
    short spawn_flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (flags & OSMO_SPAWN_SETSID) spawn_flags |= POSIX_SPAWN_SETSID;
    else if (flags & OSMO_SPAWN_SETPGROUP) {
        spawn_flags |= POSIX_SPAWN_SETPGROUP;
        rc = posix_spawnattr_setpgroup(&attr, 0);
    }
    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    rc = rc ? rc : posix_spawnattr_setsigmask(&attr, &empty);
    rc = rc ? rc : posix_spawnattr_setsigdefault(&attr, &all);
    rc = rc ? rc : posix_spawnattr_setflags(&attr, spawn_flags);
    if (rc == 0) rc = posix_spawn(pid, path, actions, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    return rc;
}

int osmo_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
               int in_fd, int out_fd, int err_fd, int flags) {
    posix_spawn_file_actions_t actions;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    if (in_fd >= 0) rc = rc ? rc : posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
    if (out_fd >= 0) rc = rc ? rc : posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    if (err_fd >= 0) rc = rc ? rc : posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    if (rc == 0) rc = spawn_with(pid, path, argv, envp, &actions, flags);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

int osmo_spawn_tty(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *tty) {
    posix_spawn_file_actions_t actions;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    /* glibc runs setsid before the file actions, so this open makes the tty the controlling one. */
    rc = posix_spawn_file_actions_addopen(&actions, 0, tty, O_RDWR, 0);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&actions, 0, 1);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&actions, 0, 2);
    if (rc == 0) rc = spawn_with(pid, path, argv, envp, &actions, OSMO_SPAWN_SETSID);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

int osmo_open_pty(char *name, size_t len) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return -errno;
    if (grantpt(fd) != 0 || unlockpt(fd) != 0 || ptsname_r(fd, name, len) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int osmo_set_window_size(int fd, unsigned short rows, unsigned short cols) {
    struct winsize size = {.ws_row = rows, .ws_col = cols};
    return ioctl(fd, TIOCSWINSZ, &size);
}

int osmo_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

int osmo_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int osmo_accept_cloexec(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }

static int fill_addr(struct sockaddr_un *addr, const char *path) {
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len >= sizeof(addr->sun_path)) return -ENAMETOOLONG;
    memcpy(addr->sun_path, path, len);
    return 0;
}

int osmo_unix_connect(const char *path) {
    struct sockaddr_un addr;
    int rc = fill_addr(&addr, path);
    if (rc < 0) return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (errno == EINTR) continue;
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int osmo_unix_listen(const char *path, int backlog) {
    struct sockaddr_un addr;
    int rc = fill_addr(&addr, path);
    if (rc < 0) return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, backlog) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int osmo_peercred(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

static int make_set(sigset_t *set, const int *signals, int count) {
    sigemptyset(set);
    for (int i = 0; i < count; i++) sigaddset(set, signals[i]);
    return 0;
}

int osmo_block_signals(const int *signals, int count) {
    sigset_t set;
    make_set(&set, signals, count);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int osmo_signalfd(const int *signals, int count) {
    sigset_t set;
    make_set(&set, signals, count);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int osmo_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    for (;;) {
        ssize_t n = read(fd, &info, sizeof(info));
        if (n == (ssize_t)sizeof(info)) return (int)info.ssi_signo;
        if (n < 0 && errno == EINTR) continue;
        if (n >= 0) errno = EIO;
        return -1;
    }
}

ssize_t osmo_copy_file_range(int in_fd, int out_fd, size_t len) {
    return copy_file_range(in_fd, NULL, out_fd, NULL, len, 0);
}

int osmo_syncfs(int fd) { return syncfs(fd); }

int osmo_ptsname(int fd, char *buf, size_t len) { return ptsname_r(fd, buf, len); }

int osmo_wifexited(int status) { return WIFEXITED(status); }
int osmo_wexitstatus(int status) { return WEXITSTATUS(status); }
int osmo_wifsignaled(int status) { return WIFSIGNALED(status); }
int osmo_wtermsig(int status) { return WTERMSIG(status); }

int osmo_get_window_size(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize size;
    if (ioctl(fd, TIOCGWINSZ, &size) != 0) return -1;
    *rows = size.ws_row;
    *cols = size.ws_col;
    return 0;
}

int osmo_make_raw(int fd, struct termios *saved) {
    struct termios raw;
    if (tcgetattr(fd, saved) != 0) return -1;
    raw = *saved;
    cfmakeraw(&raw);
    return tcsetattr(fd, TCSANOW, &raw);
}

int osmo_restore_terminal(int fd, const struct termios *saved) {
    return tcsetattr(fd, TCSANOW, saved);
}

int osmo_openat2(int dirfd, const char *path, int flags, unsigned int mode, uint64_t resolve) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = resolve;
    long fd;
    do { fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how); } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : (int)fd;
}

int osmo_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int noreplace) {
    return renameat2(olddirfd, oldpath, newdirfd, newpath, noreplace ? RENAME_NOREPLACE : 0);
}
