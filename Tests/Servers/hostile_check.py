#!/usr/bin/env python3
"""Runs the hostile archive cases written by hostile.py against a built osmo binary.

Usage: hostile_check.py --osmo OSMO --cases OUT --work WORKDIR --transport file|http|s3
           [--http-url URL --http-root DIR]
           [--s3-endpoint URL --s3-bucket B --s3-key ID --s3-secret S]
           [--only NAME,...] --report REPORT.json

For every case of OUT/cases.json (see hostile.py for the schema):
  1. makes WORKDIR/<case>/dest and WORKDIR/<case>/outside (victim.txt, secret.txt, mode 0755) and
     applies the case's `pre` into dest (@OUTSIDE@ in symlink targets = the outside path);
  2. snapshots everything the attack could reach without being in dest: the WORKDIR/<case> tree
     except dest (type, mode, owner, size, mtime, ctime, inode, link count, content hash, symlink
     target), the names in WORKDIR itself, /etc/passwd, and whether each `absent_abs` path exists;
  3. runs `osmo data download SOURCE WORKDIR/<case>/dest` `runs` times per input, in order, with
     the case's env (timeout 120 s each). SOURCE by transport:
       file  file://<OUT>/cases/<case>/src...
       http  <http-url>/<case>/<file>, the input's one top-level file copied to
             <http-root>/<case>/<file> (inputs that are not exactly one top-level file: skipped)
       s3    s3://<bucket>/<case>/<input>, every file of the input uploaded once (boto3) to
             <case>/<input>/<relpath>; osmo gets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
             AWS_REGION=us-east-1 and AWS_ENDPOINT_URL
  4. judges: expect ok = every run exits 0; refused = the last run exits 10 (earlier ones 0 or 10);
     ok-or-refused = every run exits 0 or 10; any other exit (a crash, 2, a timeout) fails. Then
     present / absent / not_symlinks / modes / sizes / absent_abs, and (outside_untouched) the
     snapshot of step 2 must be identical afterwards. Paths in dest are looked up component by
     component without following any symlink; a symlink where a directory of a `present` path
     should be fails.
  5. writes REPORT.json ({"transport", "osmo", "osmo_changed_during_run", "cases": [{name,
     status, detail, exit_codes, stderr}], "passed", "failed", "skipped"}) and prints one line
     per failed case and a last line `N passed, M failed, K skipped`.

The working directory of a passed case is removed afterwards (a failed one is kept to look at).
Standard library only, except boto3 for the s3 transport. Exits 0 whatever the cases did, 3 if the
harness itself broke (bad arguments or cases.json, no binary, an upload that failed, ...).
"""
import argparse, errno, hashlib, json, os, shutil, signal, stat, subprocess, sys, time, unicodedata
import urllib.parse

TIMEOUT = 120
BINARY_WAIT = 600           # seconds to wait for a binary being rebuilt to come back
EXIT_OK, EXIT_REFUSED = 0, 10
WATCH_ABS = ["/etc/passwd"]  # hardlink / overwrite targets beyond the case directory
NOTE_NAMES = (b".osmo-extract-", b".osmo-tmp-")
SHOWN_CONTENT = 64          # files this small have their content quoted in a difference
TIMES = ("mtime", "ctime")


class HarnessError(Exception):
    """The harness (not osmo) could not do its part."""


def show(path):
    """A path for a human sentence: quoted, with newlines, tabs and odd bytes escaped, and
    every non-ASCII character escaped when the name is not NFC (so NFD and NFC differ)."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return repr(path) if unicodedata.is_normalized("NFC", path) else ascii(path)


def enc(text):
    return text.encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------- no-follow path handling

def split_rel(rel):
    parts = [p for p in enc(rel).split(b"/") if p not in (b"", b".")]
    if not parts or b".." in parts:
        raise HarnessError(f"case path {show(rel)} is empty or has a '..' component")
    return parts


def open_dir_nofollow(name, dir_fd=None):
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


class Lookup:
    """root/rel reached one component at a time, never through a symlink."""
    def __init__(self, root, rel):
        self.rel, self.st, self.problem, self.parent_fd, self.name = rel, None, None, None, None
        parts = split_rel(rel)
        fd = open_dir_nofollow(os.fsencode(root))
        try:
            for i, part in enumerate(parts[:-1]):
                where = show(b"/".join(parts[:i + 1]))
                try:
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    self.problem = "missing"
                    return
                if stat.S_ISLNK(st.st_mode):
                    self.problem = f"its parent {where} is a symlink (to {show(os.readlink(part, dir_fd=fd))})"
                    return
                if not stat.S_ISDIR(st.st_mode):
                    self.problem = f"its parent {where} is not a directory"
                    return
                nfd = open_dir_nofollow(part, dir_fd=fd)
                os.close(fd)
                fd = nfd
            try:
                self.st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                self.problem = "missing"
                return
            except NotADirectoryError:
                self.problem = "missing"
                return
            self.parent_fd, self.name, fd = fd, parts[-1], None
        finally:
            if fd is not None:
                os.close(fd)

    def close(self):
        if self.parent_fd is not None:
            os.close(self.parent_fd)
            self.parent_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def readlink(self):
        return os.readlink(self.name, dir_fd=self.parent_fd)

    def read(self, limit):
        fd = os.open(self.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self.parent_fd)
        try:
            chunks, total = [], 0
            while total <= limit:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)


def kind(mode):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "char device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "unknown"


def open_parent_create(root, rel):
    """(fd of rel's parent, last name), creating missing directories (0755) without following
    symlinks; for placing `pre` entries."""
    parts = split_rel(rel)
    fd = open_dir_nofollow(os.fsencode(root))
    try:
        for part in parts[:-1]:
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            nfd = open_dir_nofollow(part, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except OSError as e:
        os.close(fd)
        raise HarnessError(f"cannot place pre entry {show(rel)}: {e}")
    return fd, parts[-1]


def remove_tree(path):
    """Removes a tree the cases left, read-only directories (0555, 0000) included, never
    following a symlink."""
    path = os.fsencode(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return

    def unlock(p):
        os.chmod(p, 0o700)
        with os.scandir(p) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    unlock(e.path)

    if stat.S_ISDIR(st.st_mode):
        unlock(path)
        shutil.rmtree(path)
    else:
        os.unlink(path)


# ---------------------------------------------------------------- snapshots

def describe(path, st):
    entry = {"type": kind(st.st_mode), "mode": f"{st.st_mode & 0o7777:04o}", "uid": st.st_uid, "gid": st.st_gid,
             "nlink": st.st_nlink, "inode": st.st_ino, "mtime": st.st_mtime_ns, "ctime": st.st_ctime_ns}
    if not stat.S_ISDIR(st.st_mode):
        entry["size"] = st.st_size
    if stat.S_ISLNK(st.st_mode):
        entry["target"] = os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        h, head = hashlib.sha256(), b""
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            while chunk := os.read(fd, 1 << 20):
                head = head or chunk[:SHOWN_CONTENT + 1]
                h.update(chunk)
        finally:
            os.close(fd)
        entry["sha256"] = h.hexdigest()
        if len(head) <= SHOWN_CONTENT:
            entry["content"] = head  # to say what changed in words
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        entry["rdev"] = st.st_rdev
    return entry


def snapshot(work, casedir, dest, absent_abs):
    """Everything outside dest an escape could touch, keyed by a readable label."""
    snap = {}
    casedir_b, dest_b = os.fsencode(casedir), os.fsencode(dest)

    def walk(path, label):
        st = os.lstat(path)
        snap[label] = describe(path, st)
        if stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(path)):
                child = os.path.join(path, name)
                if child == dest_b:
                    continue
                walk(child, os.path.join(label, name))

    walk(casedir_b, os.path.basename(casedir_b))
    work_b = os.fsencode(work)
    snap[b"WORKDIR entries"] = {"names": sorted(os.fsdecode(n) for n in os.listdir(work_b))}
    for p in WATCH_ABS:
        try:
            st = os.lstat(p)
            snap[os.fsencode(p)] = describe(p, st)
        except OSError:
            snap[os.fsencode(p)] = {"type": "absent"}
    for p in absent_abs:
        snap[b"exists? " + os.fsencode(p)] = {"exists": os.path.lexists(p)}
    return snap


def diff_snapshots(before, after):
    changes = []
    for label in sorted(set(before) | set(after)):
        b, a = before.get(label), after.get(label)
        if b == a:
            continue
        if b is None:
            changes.append(f"{show(label)} was created ({a.get('type', a)})")
        elif a is None:
            changes.append(f"{show(label)} was removed (was a {b.get('type', b)})")
        else:
            keys = [k for k in sorted(set(b) | set(a)) if b.get(k) != a.get(k)]
            if "content" in keys or ("content" in b and "content" in a):
                keys = [k for k in keys if k != "sha256"]  # the content says it better
            fields = [f"{k} {b.get(k)!r} -> {a.get(k)!r}" for k in keys if k not in TIMES]
            fields += [f"{k} changed" for k in TIMES if k in keys]
            changes.append(f"{show(label)} changed: " + ", ".join(fields))
    return changes


# ---------------------------------------------------------------- transports

def input_files(src):
    """Every file (not directory) under src, as relative paths with '/'; symlinks count as files."""
    out = []
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            out.append(os.path.relpath(os.path.join(dirpath, name), src).replace(os.sep, "/"))
    return sorted(out)


class FileTransport:
    name = "file"

    def __init__(self, args):
        pass

    def prepare(self, case, srcs):
        return [("file://" + src, None) for src in srcs], {}, None


class HTTPTransport:
    name = "http"

    def __init__(self, args):
        if not args.http_url or not args.http_root:
            raise HarnessError("--transport http needs --http-url and --http-root")
        self.url, self.root = args.http_url.rstrip("/"), os.path.abspath(args.http_root)
        if not os.path.isdir(self.root):
            raise HarnessError(f"--http-root {self.root} is not a directory")

    def prepare(self, case, srcs):
        files = []
        for src in srcs:
            found = input_files(src)
            if len(found) != 1:
                return None, None, (f"input {os.path.basename(src)} holds {len(found)} files; a single http URL "
                                    "fetches exactly one object")
            if "/" in found[0]:
                return None, None, (f"the one file of input {os.path.basename(src)} is {found[0]}, not at the top: "
                                    f"over http it would land at dest/{found[0].rsplit('/', 1)[1]}, not where "
                                    "the case means it")
            if os.path.islink(os.path.join(src, found[0])):
                return None, None, f"the one file of input {os.path.basename(src)} is a symlink"
            files.append((src, found[0]))
        names = [f for _, f in files]
        nested = len(set(names)) != len(names)   # same file name in two inputs: keep them apart
        target = os.path.join(self.root, case["name"])
        remove_tree(target)
        sources = []
        for src, f in files:
            rel = f"{os.path.basename(src)}/{f}" if nested else f
            os.makedirs(os.path.dirname(os.path.join(target, rel)), exist_ok=True)
            shutil.copyfile(os.path.join(src, f), os.path.join(target, rel))
            sources.append((f"{self.url}/{urllib.parse.quote(case['name'])}/{urllib.parse.quote(rel)}", None))
        return sources, {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}, None


class S3Transport:
    name = "s3"

    def __init__(self, args):
        missing = [o for o in ("s3_endpoint", "s3_bucket", "s3_key", "s3_secret") if not getattr(args, o)]
        if missing:
            raise HarnessError("--transport s3 needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
        try:
            import boto3, botocore.config
        except ImportError as e:
            raise HarnessError(f"the s3 transport needs boto3: {e}")
        self.bucket, self.endpoint = args.s3_bucket, args.s3_endpoint
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=args.s3_endpoint, region_name="us-east-1",
            aws_access_key_id=args.s3_key, aws_secret_access_key=args.s3_secret,
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))
        self.env = {"AWS_ACCESS_KEY_ID": args.s3_key, "AWS_SECRET_ACCESS_KEY": args.s3_secret,
                    "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": args.s3_endpoint,
                    "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

    def prepare(self, case, srcs):
        plan = []
        for src in srcs:
            found = input_files(src)
            if not found:
                return None, None, f"input {os.path.basename(src)} is empty: an S3 prefix cannot hold nothing"
            for rel in found:
                path = os.path.join(src, rel)
                if os.path.islink(path):
                    return None, None, f"{rel} in input {os.path.basename(src)} is a symlink: S3 has no symlinks"
                try:
                    rel.encode("utf-8")
                except UnicodeEncodeError:
                    return None, None, f"{show(rel)} is not UTF-8: not an S3 key"
                plan.append((f"{case['name']}/{os.path.basename(src)}/{rel}", path))
        prefix = case["name"] + "/"
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
            for key, path in plan:
                with open(path, "rb") as f:
                    self.client.put_object(Bucket=self.bucket, Key=key, Body=f.read())
        except Exception as e:  # botocore errors, connection refused...
            raise HarnessError(f"cannot upload {case['name']} to s3://{self.bucket}: {e}")
        return [(f"s3://{self.bucket}/{case['name']}/{os.path.basename(src)}", None) for src in srcs], dict(self.env), None


TRANSPORTS = {"file": FileTransport, "http": HTTPTransport, "s3": S3Transport}


# ---------------------------------------------------------------- running osmo

def wait_for_binary(osmo):
    deadline = time.monotonic() + BINARY_WAIT
    while not (os.path.isfile(osmo) and os.access(osmo, os.X_OK)):
        if time.monotonic() > deadline:
            raise HarnessError(f"{osmo} is missing (waited {BINARY_WAIT} s for a rebuild)")
        time.sleep(5)


def binary_id(osmo):
    try:
        st = os.stat(osmo)
        return st.st_ino, st.st_mtime_ns, st.st_size
    except OSError:
        return None


def run_osmo(osmo, source, dest, env, cwd, timeout):
    """(exit code or None on timeout, stderr text, seconds)."""
    for attempt in range(60):
        wait_for_binary(osmo)
        start = time.monotonic()
        try:
            proc = subprocess.Popen([osmo, "data", "download", source, dest], env=env, cwd=cwd,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ETXTBSY, errno.EACCES, errno.ENOEXEC):
                time.sleep(5)  # being rebuilt right now
                continue
            raise HarnessError(f"cannot run {osmo}: {e}")
        try:
            _, err = proc.communicate(timeout=timeout)
            code = proc.returncode
            if code < 0:
                code = 128 - code  # killed by a signal: report it like a shell does (134, 139)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, err = proc.communicate()
            code = None
        return code, err.decode("utf-8", "replace"), time.monotonic() - start
    raise HarnessError(f"cannot start {osmo}: it kept disappearing")


# ---------------------------------------------------------------- one case

def setup_case(case, casedir, outside, dest):
    remove_tree(casedir)
    os.makedirs(dest)
    os.mkdir(outside)
    os.chmod(outside, 0o755)
    for name, content in (("victim.txt", "victim"), ("secret.txt", "secret")):
        with open(os.path.join(outside, name), "w") as f:
            f.write(content)
    for item in case.get("pre", []):
        fd, name = open_parent_create(dest, item["path"])
        try:
            if item["type"] == "file":
                out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd)
                with os.fdopen(out, "wb") as f:
                    f.write(enc(item["content"]))
            elif item["type"] == "dir":
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                dfd = open_dir_nofollow(name, dir_fd=fd)
                try:
                    os.fchmod(dfd, int(item.get("mode", "0755"), 8))  # after mkdir: umask cannot drop 1777
                finally:
                    os.close(dfd)
            elif item["type"] == "symlink":
                os.symlink(enc(item["target"].replace("@OUTSIDE@", outside)), name, dir_fd=fd)
            else:
                raise HarnessError(f"unknown pre type {item['type']!r}")
        except OSError as e:
            raise HarnessError(f"cannot place pre entry {show(item['path'])}: {e}")
        finally:
            os.close(fd)


def check_dest(case, dest):
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return ["dest itself was removed"]
    if not stat.S_ISDIR(st.st_mode):
        return [f"dest itself was replaced by a {kind(st.st_mode)}"]
    problems = []
    for rel, want in case.get("present", {}).items():
        with Lookup(dest, rel) as found:
            if found.st is None:
                problems.append(f"{show(rel)} should exist but is {found.problem}")
                continue
            mode = found.st.st_mode
            if isinstance(want, str) and want.startswith("->"):
                if not stat.S_ISLNK(mode):
                    problems.append(f"{show(rel)} should be a symlink to {show(want[2:])} but is a {kind(mode)}")
                elif found.readlink() != enc(want[2:]):
                    problems.append(f"{show(rel)} should point to {show(want[2:])} but points to {show(found.readlink())}")
            elif isinstance(want, str):
                expected = enc(want)
                if not stat.S_ISREG(mode):
                    problems.append(f"{show(rel)} should be a file holding {show(want)} but is a {kind(mode)}")
                elif found.st.st_size != len(expected) or found.read(len(expected)) != expected:
                    got = found.read(200) if found.st.st_size <= 200 else f"{found.st.st_size} bytes"
                    problems.append(f"{show(rel)} should hold {show(want)} but holds {show(got)}")
            elif want is not None:
                raise HarnessError(f"present[{show(rel)}] is neither a string nor null")
    for rel in case.get("absent", []):
        with Lookup(dest, rel) as found:
            if found.st is not None:
                what = f"a symlink to {show(found.readlink())}" if stat.S_ISLNK(found.st.st_mode) else f"a {kind(found.st.st_mode)}"
                problems.append(f"{show(rel)} should not exist but is {what}")
    for rel in case.get("not_symlinks", []):
        with Lookup(dest, rel) as found:
            if found.st is not None and stat.S_ISLNK(found.st.st_mode):
                problems.append(f"{show(rel)} should not be a symlink but points to {show(found.readlink())}")
    for rel, want in case.get("modes", {}).items():
        with Lookup(dest, rel) as found:
            if found.st is None:
                problems.append(f"mode of {show(rel)}: it is {found.problem}")
            elif found.st.st_mode & 0o7777 != int(want, 8):
                problems.append(f"{show(rel)} should have mode {want} but has {found.st.st_mode & 0o7777:04o}")
    for rel, want in case.get("sizes", {}).items():
        with Lookup(dest, rel) as found:
            if found.st is None:
                problems.append(f"size of {show(rel)}: it is {found.problem}")
            elif found.st.st_size != want:
                problems.append(f"{show(rel)} should be {want} bytes but is {found.st.st_size}")
    for path in case.get("absent_abs", []):
        if os.path.lexists(path):
            problems.append(f"{show(path)} exists (outside everything)")
    return problems


def notes_on_dest(dest, mode_before):
    """Things worth a word that no expectation covers: leftover staging / temporary names, and a
    changed mode on the destination directory itself."""
    notes, leftovers = [], []
    for dirpath, dirnames, filenames in os.walk(os.fsencode(dest), followlinks=False):
        for name in dirnames + filenames:
            if any(n in name for n in NOTE_NAMES):
                leftovers.append(os.path.relpath(os.path.join(dirpath, name), os.fsencode(dest)))
    if leftovers:
        notes.append("left behind in dest: " + ", ".join(show(p) for p in sorted(leftovers)[:5]))
    mode = os.lstat(dest).st_mode & 0o7777
    if mode != mode_before:
        notes.append(f"dest itself changed mode {mode_before:04o} -> {mode:04o}")
    return notes


def run_case(case, args, transport, env_base):
    name = case["name"]
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise HarnessError(f"unsafe case name {name!r}")
    result = {"name": name, "status": "fail", "detail": "", "exit_codes": [], "stderr": ""}
    srcs = [os.path.join(args.cases, rel) for rel in case["inputs"]]
    for src in srcs:
        if not os.path.isdir(src):
            raise HarnessError(f"{name}: input {src} is not a directory (regenerate the cases?)")
    sources, transport_env, skip = transport.prepare(case, srcs)
    if skip:
        result.update(status="skipped", detail=f"not expressible over {transport.name}: {skip}")
        return result

    casedir = os.path.join(args.work, name)
    dest, outside = os.path.join(casedir, "dest"), os.path.join(casedir, "outside")
    setup_case(case, casedir, outside, dest)
    dest_mode = os.lstat(dest).st_mode & 0o7777
    absent_abs = case.get("absent_abs", [])
    already = [p for p in absent_abs if os.path.lexists(p)]
    if already:
        raise HarnessError(f"{name}: {', '.join(already)} exist before the run, so absent_abs cannot be judged")
    before = snapshot(args.work, casedir, dest, absent_abs)

    env = dict(env_base)
    env.update(transport_env)
    env.update(case.get("env", {}))
    codes, stderr, problems, slow = [], "", [], 0.0
    for run in range(case.get("runs", 1)):
        for source, _ in sources:
            code, stderr, took = run_osmo(args.osmo, source, dest, env, args.cwd, args.timeout)
            codes.append(code)
            slow = max(slow, took)
            if code is None:
                problems.append(f"run {run + 1} of {source.rsplit('/', 1)[-1]} timed out after {args.timeout:g} s")
    result["exit_codes"], result["stderr"] = codes, stderr[:400]

    odd = sorted({c for c in codes if c not in (EXIT_OK, EXIT_REFUSED, None)})
    if odd:
        problems.append("exit code " + ", ".join(str(c) for c in odd) + " (only 0 and 10 are acceptable)")
    expect, last = case["expect"], codes[-1]
    if expect == "ok" and any(c != EXIT_OK for c in codes):
        problems.append(f"expected ok (exit 0) but got exit {codes}"
                        + (f": {first_line(stderr)}" if last == EXIT_REFUSED else ""))
    elif expect == "refused" and last != EXIT_REFUSED:
        problems.append("expected refused (exit 10) but the last run "
                        + ("timed out" if last is None else f"exited {last}"))
    problems += check_dest(case, dest)
    if case.get("outside_untouched", True):
        after = snapshot(args.work, casedir, dest, absent_abs)
        problems += [f"outside changed: {c}" for c in diff_snapshots(before, after)]
    notes = notes_on_dest(dest, dest_mode) if os.path.isdir(dest) and not os.path.islink(dest) else []

    if problems:
        if not any(p.startswith("outside changed") for p in problems) and case.get("outside_untouched", True):
            problems.append("nothing outside dest changed")
        result["detail"] = "; ".join(problems)
    else:
        result["status"] = "pass"
        outcome = "refused" if last == EXIT_REFUSED else "ok"
        checks = sum(len(case.get(k, ())) for k in ("present", "absent", "not_symlinks", "modes", "sizes",
                                                      "absent_abs"))
        result["detail"] = (f"{outcome} (exit {', '.join(map(str, codes))}), as {expect} allows; {checks} path "
                            "check(s) passed and nothing outside dest changed"
                            + (f"; osmo said: {first_line(stderr)}" if last == EXIT_REFUSED else ""))
    if notes:
        result["detail"] += " (note: " + "; ".join(notes) + ")"
    if slow > 30:
        result["detail"] += f" (slowest run {slow:.0f} s)"
    if result["status"] == "pass":
        remove_tree(casedir)
    return result


def first_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no stderr)"


# ---------------------------------------------------------------- main

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--osmo", required=True, help="the osmo binary")
    p.add_argument("--cases", required=True, help="hostile.py's output directory (cases.json, cases/)")
    p.add_argument("--work", required=True, help="scratch directory; WORKDIR/<case> is replaced")
    p.add_argument("--transport", required=True, choices=sorted(TRANSPORTS))
    p.add_argument("--http-url", help="base URL of an httpd.py serving --http-root")
    p.add_argument("--http-root", help="directory the http server serves")
    p.add_argument("--s3-endpoint")
    p.add_argument("--s3-bucket")
    p.add_argument("--s3-key")
    p.add_argument("--s3-secret")
    p.add_argument("--only", help="comma-separated case names")
    p.add_argument("--timeout", type=float, default=TIMEOUT, help=f"seconds per osmo run (default {TIMEOUT})")
    p.add_argument("--report", required=True, help="where to write the JSON report")
    return p.parse_args()


def main():
    args = parse_args()
    args.osmo = os.path.abspath(args.osmo)
    args.cases, args.work = os.path.abspath(args.cases), os.path.abspath(args.work)
    results, broke = [], []
    try:
        with open(os.path.join(args.cases, "cases.json"), encoding="utf-8") as f:
            cases = json.load(f)
        if args.only:
            wanted = [n for n in args.only.split(",") if n]
            unknown = sorted(set(wanted) - {c["name"] for c in cases})
            if unknown:
                raise HarnessError("--only names unknown cases: " + ", ".join(unknown))
            cases = [c for c in cases if c["name"] in wanted]
        os.makedirs(args.work, exist_ok=True)
        args.cwd = os.path.join(args.work, ".hostile-check-cwd")  # osmo's cwd, outside every snapshot
        os.makedirs(args.cwd, exist_ok=True)
        transport = TRANSPORTS[args.transport](args)
        wait_for_binary(args.osmo)
    except (HarnessError, OSError, ValueError, KeyError) as e:
        print(f"hostile_check: {e}", file=sys.stderr)
        return 3
    binary_before = binary_id(args.osmo)
    env_base = dict(os.environ)
    if args.transport == "s3":
        for k in ("AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            env_base.pop(k, None)

    for i, case in enumerate(cases):
        print(f"[{i + 1}/{len(cases)}] {case['name']}", file=sys.stderr, flush=True)
        try:
            results.append(run_case(case, args, transport, env_base))
        except (HarnessError, OSError, KeyError, ValueError) as e:
            broke.append(case["name"])
            results.append({"name": case["name"], "status": "fail", "detail": f"harness error (not osmo's): {e}",
                            "exit_codes": [], "stderr": ""})

    counts = {s: sum(r["status"] == s for r in results) for s in ("pass", "fail", "skipped")}
    report = {"transport": args.transport, "osmo": args.osmo, "cases": results,
              "osmo_changed_during_run": binary_id(args.osmo) != binary_before,
              "passed": counts["pass"], "failed": counts["fail"], "skipped": counts["skipped"]}
    tmp = args.report + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    os.replace(tmp, args.report)
    for r in results:
        if r["status"] == "fail":
            print(f"FAIL {r['name']}: {r['detail']}")
    print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skipped']} skipped")
    if report["osmo_changed_during_run"]:
        print(f"hostile_check: warning: {args.osmo} was rebuilt during the run; results may mix two builds",
              file=sys.stderr)
    if broke:
        print(f"hostile_check: the harness broke on {', '.join(broke)}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
