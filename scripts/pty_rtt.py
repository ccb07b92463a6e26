"""Keystroke round trip through a terminal program: spawn CMD on a pseudo-terminal, wait for its
prompt, then N times type one character and time until its echo appears (p50/p99 in ms), and the
time from spawn to the first prompt (session set-up).

Usage: pty_rtt.py --runs N -- CMD ARGS...     prints one JSON line
"""
import json, os, pty, select, sys, time


def read_until(fd, needle, timeout=20):
    data, deadline = b"", time.monotonic() + timeout
    while needle not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {needle!r} in {data[-200:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            data += os.read(fd, 65536)
    return data


def main():
    args = sys.argv[1:]
    runs = 200
    if args[:1] == ["--runs"]:
        runs, args = int(args[1]), args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    env = dict(os.environ, PS1="$ ", TERM="xterm")
    start = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(args[0], args, env)
    read_until(fd, b"$ ")
    setup = time.monotonic() - start
    samples = []
    for i in range(runs):
        char = b"abcdefghijklmnopqrstuvwxyz"[i % 26:i % 26 + 1]
        t0 = time.monotonic()
        os.write(fd, char)
        read_until(fd, char)
        samples.append((time.monotonic() - t0) * 1000)
    os.write(fd, b"\x15exit\r")  # ^U clears the typed characters
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    samples.sort()
    print(json.dumps({"setup_ms": round(setup * 1000, 1), "p50_ms": round(samples[len(samples) // 2], 3),
                      "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3), "runs": runs}))


main()
