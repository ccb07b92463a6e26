#ifndef OSMO_SYS_H
#define OSMO_SYS_H

#include <termios.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/xattr.h>

/// argc/argv as the kernel passed them, captured by an ELF constructor (works without /proc).
int osmo_argc(void);
/// stdio's stdout line-buffered even on a pipe or a file (Swift 6 cannot name `stdout`).
void osmo_line_buffer_stdout(void);
char *const *osmo_argv(void);

/// Flags for osmo_spawn.
enum {
    OSMO_SPAWN_SETSID = 1,   ///< child starts a new session (and process group)
    OSMO_SPAWN_SETPGROUP = 2 ///< child leads a new process group
};

/// posix_spawn with stdio redirected (fd < 0 = inherit), an empty signal mask and default
/// dispositions in the child. Returns 0 or an errno (exec failures included: glibc reports them).
int osmo_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
               int in_fd, int out_fd, int err_fd, int flags);

/// PR_SET_CHILD_SUBREAPER: orphaned descendants are reparented to us, so we can reap them.
int osmo_set_child_subreaper(void);

/// pipe2(O_CLOEXEC).
int osmo_pipe_cloexec(int fds[2]);

/// accept4 with SOCK_CLOEXEC.
int osmo_accept_cloexec(int fd);

/// socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC) connected / bound to `path`. Returns fd or -errno.
int osmo_unix_connect(const char *path);
int osmo_unix_listen(const char *path, int backlog);

/// SO_PEERCRED of a Unix socket.
int osmo_peercred(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);

/// signalfd for the given signals (blocks them in the calling thread's mask first).
int osmo_signalfd(const int *signals, int count);
/// Reads one signal number from a signalfd, or -1 with errno.
int osmo_signalfd_read(int fd);
/// Blocks the signals in the calling thread (inherited by threads it creates later).
int osmo_block_signals(const int *signals, int count);

/// copy_file_range (whole-file copy in the kernel); -1 with errno on failure.
ssize_t osmo_copy_file_range(int in_fd, int out_fd, size_t len);

/// syncfs: flushes the whole file system holding `fd` (one flush for a batch of files).
int osmo_syncfs(int fd);

/// posix_spawn into a new session whose controlling terminal (and stdio) is `tty`.
int osmo_spawn_tty(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *tty);
/// A new pseudo-terminal master (granted, unlocked, close-on-exec); the slave's path goes to
/// `name`. Returns the fd or -errno.
int osmo_open_pty(char *name, size_t len);
/// TIOCSWINSZ.
int osmo_set_window_size(int fd, unsigned short rows, unsigned short cols);
/// TIOCGWINSZ.
int osmo_get_window_size(int fd, unsigned short *rows, unsigned short *cols);
/// Puts a terminal in raw mode (cfmakeraw), saving its settings for osmo_restore_terminal.
int osmo_make_raw(int fd, struct termios *saved);
int osmo_restore_terminal(int fd, const struct termios *saved);
/// ptsname_r.
int osmo_ptsname(int fd, char *buf, size_t len);

/// Status decoding (macros Swift cannot call).
int osmo_wifexited(int status);
int osmo_wexitstatus(int status);
int osmo_wifsignaled(int status);
int osmo_wtermsig(int status);

/// Resolution flags for osmo_openat2 (the kernel's RESOLVE_* values).
enum {
    OSMO_RESOLVE_NO_XDEV = 0x01,
    OSMO_RESOLVE_NO_MAGICLINKS = 0x02,
    OSMO_RESOLVE_NO_SYMLINKS = 0x04,
    OSMO_RESOLVE_BENEATH = 0x08
};

/// O_PATH (a GNU extension Swift's Glibc module hides).
enum { OSMO_O_PATH = 010000000 };

/// openat2(2): opens `path` relative to `dirfd` with the kernel enforcing `resolve`.
/// Returns the fd, or -errno (-ENOSYS where the kernel or a seccomp filter lacks it).
int osmo_openat2(int dirfd, const char *path, int flags, unsigned int mode, uint64_t resolve);

/// renameat2 with RENAME_NOREPLACE when `noreplace` is set. 0 or -1 with errno.
int osmo_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int noreplace);

#endif
