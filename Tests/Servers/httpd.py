#!/usr/bin/env python3
"""Small HTTP/1.1 file server with fault injection, for osmo's transfer integration tests.

Usage: httpd.py --root DIR [--port 0] --log ACCESS.jsonl [--ready-file F] [--rate BYTES_PER_SEC]

GET/HEAD serve files under --root (ETag, Last-Modified, single byte ranges, If-Range);
`GET /dir/?list=1` lists a tree as JSON; PUT stores a body (Content-Length or chunked); DELETE removes.
Faults come from <root>/.faults.json, re-read on every request:
  {"/path": [{"status": 500}, {"status": 429, "retry_after": 1}, {"drop_after": N},
             {"truncate_after": N}, {"delay": S}, {"throttle": BPS}, ...]}
Each request to /path pops the first fault; `"sticky": true` keeps it (throttle is sticky unless
`"sticky": false`); `"methods": ["GET"]` makes a fault apply only to those methods. Keys combine.
Every request appends one JSON line to --log, with the body bytes actually written.
"""
import argparse, email.utils, fcntl, hashlib, http.server, json, os, shutil, signal, socket
import struct, sys, termios, threading, time, urllib.parse

CHUNK = 256 * 1024
TMP_PREFIX = ".httpd-tmp-"
FAULTS = ".faults.json"


class Aborted(Exception):
    """The connection is unusable (client went away, or a fault cut it): stop and log."""


class Pacer:
    """Paces a byte stream to `rate` bytes/s (None = unthrottled) by sleeping to a schedule."""
    def __init__(self, rate):
        self.rate, self.start = rate, time.monotonic()
        self.chunk = CHUNK if not rate else max(1, min(CHUNK, int(rate) // 20))

    def wait(self, done):
        if self.rate:
            ahead = self.start + done / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)


def atomic_write(path, data):
    """Readers (tests, other requests) must never see a half-written file."""
    tmp = os.path.join(os.path.dirname(path), f"{TMP_PREFIX}{os.getpid()}-{threading.get_ident()}")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can stall offline.
        http.server.socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def __init__(self, addr, root, log_path, rate):
        super().__init__(addr, Handler)
        self.root, self.rate = os.path.realpath(root), rate
        self.log_file, self.log_lock = open(log_path, "a", encoding="utf-8"), threading.Lock()
        self.fault_lock, self.etags = threading.Lock(), {}

    def etag(self, path, f, st):
        # Hash once per file version; the inode changes on every PUT (rename), mtime/size on edits.
        key = (path, st.st_ino, st.st_mtime_ns, st.st_size)
        if key not in self.etags:
            h, pos = hashlib.md5(), f.tell()
            f.seek(0)
            while block := f.read(CHUNK):
                h.update(block)
            f.seek(pos)
            self.etags[key] = '"%s"' % h.hexdigest()
        return self.etags[key]

    def pop_fault(self, keys, method):
        path = os.path.join(self.root, FAULTS)
        with self.fault_lock:
            for attempt in range(3):
                try:
                    with open(path, encoding="utf-8") as f:
                        faults = json.load(f)
                    break
                except FileNotFoundError:
                    return None
                except ValueError as e:  # a test writing the file non-atomically; retry briefly
                    if attempt == 2:
                        print(f"httpd: ignoring invalid {FAULTS}: {e}", file=sys.stderr, flush=True)
                        return None
                    time.sleep(0.02)
            key = next((k for k in keys if faults.get(k)), None)
            if key is None:
                return None
            fault = faults[key][0]
            if method not in fault.get("methods", [method]):
                return None
            if not fault.get("sticky", "throttle" in fault):
                faults[key].pop(0)
                if not faults[key]:
                    del faults[key]
                atomic_write(path, json.dumps(faults, indent=1).encode())
            return fault

    def log(self, entry):
        with self.log_lock:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "osmo-test-httpd/1"
    timeout = 120  # reap idle keep-alive connections

    def log_message(self, *args):  # quiet: the JSON access log is the record
        pass

    # -- request plumbing ------------------------------------------------------------------------
    def handle_request(self):
        raw = urllib.parse.urlsplit(self.path)
        self.url_path, self.query = raw.path, urllib.parse.parse_qs(raw.query)
        self.sent = self.received = 0
        self.status, self.fault, started = 0, None, time.time()
        try:
            self.fault = self.server.pop_fault([raw.path, urllib.parse.unquote(raw.path)], self.command)
            f = self.fault or {}
            if f.get("delay"):
                time.sleep(float(f["delay"]))
            rate = min(r for r in (f.get("throttle"), self.server.rate, float("inf")) if r)
            self.pacer_rate = None if rate == float("inf") else float(rate)
            if "status" in f:
                if self.command in ("PUT", "POST"):
                    self.read_body(None)  # drain so the client reads our status, not a reset
                self.send_simple(int(f["status"]), f.get("retry_after"))
            else:
                getattr(self, "serve_" + self.command)()
        except (Aborted, OSError):  # OSError: client gone, reset or timed out
            self.close_connection = True
        finally:
            self.server.log({"method": self.command, "path": self.url_path,
                             "range": self.headers.get("Range"), "status": self.status,
                             "bytes": self.sent, "received": self.received, "fault": self.fault,
                             "time": round(time.time(), 3), "duration": round(time.time() - started, 3)})

    do_GET = do_HEAD = do_PUT = do_DELETE = handle_request

    def local_path(self):
        """The file under root for the URL, or None if it escapes root (also via symlinks)."""
        rel = urllib.parse.unquote(self.url_path).lstrip("/")
        full = os.path.realpath(os.path.join(self.server.root, rel))
        if full != self.server.root and not full.startswith(self.server.root + os.sep):
            return None
        return full

    def send_head(self, status, headers):
        self.status = status
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.end_headers()

    def send_simple(self, status, retry_after=None):
        body = f"{status} {self.responses.get(status, ('',))[0]}\n".encode()
        headers = {"Content-Type": "text/plain", "Content-Length": len(body)}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        self.send_head(status, headers)
        if self.command != "HEAD":
            self.write_body([body])

    def write_body(self, blocks, limit=None):
        """Writes blocks (paced); stops after `limit` body bytes. Counts only what went out."""
        pacer = Pacer(self.pacer_rate)
        for block in blocks:
            for i in range(0, len(block), pacer.chunk):
                piece = block[i:i + pacer.chunk]
                if limit is not None:
                    piece = piece[:max(0, limit - self.sent)]
                if not piece:
                    return
                pacer.wait(self.sent)  # before, not after: the log line follows the last byte at once
                self.wfile.write(piece)
                self.sent += len(piece)

    def abort(self):
        """Reset (RST) the connection, once the client has acked what we sent so it gets N bytes."""
        sock, deadline = self.connection, time.monotonic() + 5
        while time.monotonic() < deadline:
            unacked = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
            if unacked == 0:
                break
            time.sleep(0.005)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # the fd really closes when the handler's rfile is closed in finish()
        raise Aborted

    def read_body(self, sink, limit=None):
        """Reads the request body (Content-Length or chunked) into sink.write; returns the md5."""
        h, pacer = hashlib.md5(), Pacer(self.pacer_rate)

        def take(n):
            while n > 0:
                if limit is not None and self.received >= limit:
                    return False
                want = min(n, pacer.chunk) if limit is None else min(n, pacer.chunk, limit - self.received)
                pacer.wait(self.received)
                data = self.rfile.read(want)
                if not data:
                    raise Aborted  # client hung up mid-body
                h.update(data)
                if sink:
                    sink.write(data)
                self.received += len(data)
                n -= len(data)
            return True

        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise Aborted
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                if not take(size):
                    return None
                self.rfile.readline(16)  # CRLF after the chunk data
        elif not take(int(self.headers.get("Content-Length") or 0)):
            return None
        return h.hexdigest()

    # -- methods ---------------------------------------------------------------------------------
    def serve_GET(self):
        path = self.local_path()
        if path and os.path.isdir(path) and self.url_path.endswith("/") and self.query.get("list") == ["1"]:
            return self.send_listing(path)
        if not path or not os.path.isfile(path):
            return self.send_simple(404)
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())  # stat the open file so size/ETag match the bytes we send
            size, etag = st.st_size, self.server.etag(path, f, st)
            modified = email.utils.formatdate(st.st_mtime, usegmt=True)
            headers = {"ETag": etag, "Last-Modified": modified, "Accept-Ranges": "bytes"}
            start, end, status = 0, size - 1, 200
            rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
            if rng and if_range in (None, etag, modified):
                parsed = parse_range(rng, size)
                if parsed == "unsatisfiable":
                    headers.update({"Content-Range": f"bytes */{size}", "Content-Length": 0})
                    return self.send_head(416, headers)
                if parsed:
                    (start, end), status = parsed, 206
                    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            headers["Content-Length"] = end - start + 1
            self.send_head(status, headers)
            fault = self.fault or {}
            cut = fault.get("drop_after", fault.get("truncate_after"))
            if self.command != "HEAD":
                f.seek(start)
                self.write_body(iter_file(f, end - start + 1), limit=None if cut is None else int(cut))
        if "drop_after" in fault:
            self.abort()
        if "truncate_after" in fault:
            self.close_connection = True  # FIN after a short body: a clean but premature EOF

    serve_HEAD = serve_GET

    def send_listing(self, base):
        files = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if name == FAULTS or name.startswith(TMP_PREFIX):
                    continue
                full = os.path.join(dirpath, name)
                with open(full, "rb") as f:
                    st = os.fstat(f.fileno())
                    files.append({"path": os.path.relpath(full, base), "size": st.st_size,
                                  "etag": self.server.etag(full, f, st)})
        files.sort(key=lambda e: e["path"])
        body = json.dumps({"files": files}).encode()
        self.send_head(200, {"Content-Type": "application/json", "Content-Length": len(body)})
        if self.command != "HEAD":
            self.write_body([body])

    def serve_PUT(self):
        path = self.local_path()
        if not path or path == self.server.root or self.url_path.endswith("/") or os.path.isdir(path):
            self.read_body(None)
            return self.send_simple(400 if not path or self.url_path.endswith("/") else 409)
        fault = self.fault or {}
        cut = fault.get("drop_after", fault.get("truncate_after"))
        if cut is not None:  # an interrupted upload: read N body bytes, then hang up
            self.read_body(None, limit=int(cut))
            if "drop_after" in fault:
                self.abort()
            raise Aborted
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except OSError:
            self.read_body(None)
            return self.send_simple(409)
        tmp = os.path.join(os.path.dirname(path), f"{TMP_PREFIX}{os.getpid()}-{threading.get_ident()}")
        try:
            with open(tmp, "wb") as out:
                digest = self.read_body(out)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.send_head(201, {"ETag": f'"{digest}"', "Content-Length": 0})

    def serve_DELETE(self):
        path = self.local_path()
        if not path or path == self.server.root or not os.path.lexists(path):
            return self.send_simple(404)
        shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
        self.send_head(204, {"Content-Length": 0})


def iter_file(f, remaining):
    while remaining > 0:
        block = f.read(min(CHUNK, remaining))
        if not block:
            break
        remaining -= len(block)
        yield block


def parse_range(value, size):
    """(start, end) for one `bytes=` range, "unsatisfiable", or None to ignore the header."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # multi-range or other units: serving the whole file is allowed
    first, dash, last = spec.strip().partition("-")
    try:
        if not dash:
            return None
        if first == "":  # suffix range: the last N bytes
            n = int(last)
            return (max(0, size - n), size - 1) if n > 0 and size > 0 else "unsatisfiable"
        start, end = int(first), int(last) if last else size - 1
    except ValueError:
        return None
    if last and end < start:
        return None  # syntactically invalid: ignore
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready-file")
    ap.add_argument("--rate", type=float, help="throttle every body to BYTES_PER_SEC")
    args = ap.parse_args()
    os.makedirs(args.root, exist_ok=True)
    server = Server((args.host, args.port), args.root, args.log, args.rate)
    port = server.server_address[1]
    if args.ready_file:
        atomic_write(os.path.abspath(args.ready_file), f"{port}\n".encode())
    print(port, flush=True)
    # shutdown() blocks until serve_forever() returns, so it can't run in the (main) serving thread.
    stop = lambda *_: threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.2)
    server.server_close()  # the log stays open: daemon threads may still append; each line is flushed


if __name__ == "__main__":
    main()
