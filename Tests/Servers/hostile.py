#!/usr/bin/env python3
"""Generates hostile and tricky archives for testing the extractor's confinement.

Usage: hostile.py OUT_DIR

Writes OUT_DIR/cases/<case>/src*/ (the objects of one dataset input each) and OUT_DIR/cases.json,
a list of case objects; prints nothing. Deterministic: fixed mtimes, owners and dates, so two runs
give identical bytes. Standard library only; tar.zst / tar.lz4 cases need the `zstd` / `lz4`
CLIs and are left out when those are missing.

Case object:
  name        unique kebab-case name; the case's files live in cases/<name>/
  why         one sentence: what the archive tries (or, for legit cases, what must keep working)
  inputs      source directories relative to OUT_DIR, one per dataset input, in order; every file
              in one is an object of that input (several archives in one = shards)
  pre         placed in the destination before the first run, in order:
                {"type": "file", "path", "content"}, {"type": "dir", "path", "mode": "0700"},
                {"type": "symlink", "path", "target"}
  runs        how many times the same download runs over the same destination
  expect      "refused" (exit 10), "ok" (exit 0), or "ok-or-refused" (either exit; the
              present/absent/outside checks still apply)
  present     {rel: "exact content" | "->target" (a symlink with that target) | null (exists)}
  absent      [rel, ...] that must not exist (lstat) in the destination afterwards
  outside_untouched  always true: @OUTSIDE@ unchanged, nothing outside the destination made or changed
  env         (optional) environment for the download, e.g. {"OSMO_EXTRACT_MAX_BYTES": "10000000"}
  modes       (optional) {rel: "0755"}: st_mode & 0o7777 afterwards, as 4 octal digits
  sizes       (optional) {rel: bytes}: st_size afterwards (for files too big to spell out)
  absent_abs  (optional) [absolute path, ...] that must not exist afterwards
  not_symlinks (optional) [rel, ...] that must not be symlinks afterwards (absent, or a real file
              or directory): for shards, which may be extracted in any order, so a harmless shard
              can legitimately create a real directory where a refused shard had a symlink

Placeholders: "@OUTSIDE@" (in pre targets) is the victim directory beside the destination,
holding victim.txt ("victim") and secret.txt ("secret"). Archives reach it as "../outside"
from the destination root, since the test makes <tmp>/dest and <tmp>/outside.
"""
import argparse, bz2, gzip, io, json, lzma, os, random, shutil, stat, struct, subprocess, sys
import tarfile, warnings, zipfile, zlib

MTIME = 1_600_000_000
ZIP_DATE = (2020, 9, 13, 12, 26, 40)
MIB = 1 << 20
ZERO_MIB = bytes(MIB)
ABS = "/osmo-hostile-abs"


# ---------------------------------------------------------------- tar entries

def _info(name, kind, mode, **fields):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def F(name, content=b"", mode=0o644, pax=None):
    """A regular file; content is str, bytes, or (size, reader) for big streamed data."""
    if isinstance(content, str):
        content = content.encode()
    if isinstance(content, tuple):
        size, reader = content
        return _info(name, tarfile.REGTYPE, mode, size=size, pax_headers=pax or {}), reader
    return _info(name, tarfile.REGTYPE, mode, size=len(content), pax_headers=pax or {}), io.BytesIO(content)


def D(name, mode=0o755):
    return _info(name, tarfile.DIRTYPE, mode), None


def S(name, target, pax=None):
    return _info(name, tarfile.SYMTYPE, 0o777, linkname=target, pax_headers=pax or {}), None


def H(name, target):
    return _info(name, tarfile.LNKTYPE, 0o644, linkname=target), None


def DEV(name, kind, major, minor):
    return _info(name, kind, 0o666, devmajor=major, devminor=minor), None


def FIFO(name):
    return _info(name, tarfile.FIFOTYPE, 0o644), None


def SPARSE(name, realsize, segments):
    """A PAX 1.0 sparse file: segments = [(offset, bytes)], holes elsewhere."""
    entries = [(offset, len(data)) for offset, data in segments] + [(realsize, 0)]
    header = f"{len(entries)}\n" + "".join(f"{o}\n{n}\n" for o, n in entries)
    block = header.encode().ljust(-(-len(header) // 512) * 512, b"\0")
    block += b"".join(data for _, data in segments)
    pax = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": name,
           "GNU.sparse.realsize": str(realsize)}
    dirname, base = os.path.split(name)
    stored = os.path.join(dirname, "GNUSparseFile.0", base)
    return _info(stored, tarfile.REGTYPE, 0o644, size=len(block), pax_headers=pax), io.BytesIO(block)


class Zeros:
    """A file-like source of `size` zero bytes (no big buffers)."""
    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return ZERO_MIB[:n] if n <= MIB else bytes(n)


def tar_into(fileobj, entries, fmt=tarfile.PAX_FORMAT):
    with tarfile.open(fileobj=fileobj, mode="w", format=fmt, encoding="utf-8",
                      errors="surrogateescape", copybufsize=MIB) as tf:
        for info, data in entries:
            tf.addfile(info, data)


def tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    tar_into(buf, entries, fmt)
    return buf.getvalue()


def gz(data, level=9):
    return gzip.compress(data, compresslevel=level, mtime=0)


def xz(data):
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64)


def bz(data):
    return bz2.compress(data, 9)


def cli(tool, *args):
    path = shutil.which(tool)
    if not path:
        return None
    return lambda data: subprocess.run([path, *args], input=data, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, check=True).stdout


zst = cli("zstd", "-q", "-c", "-3", "--no-progress")
lz4 = cli("lz4", "-q", "-c", "-9")


def noise(n, seed):
    return random.Random(seed).randbytes(n)


# ---------------------------------------------------------------- zip entries

def Z(name, content=b"", kind="file", mode=None, system=3, method=zipfile.ZIP_DEFLATED, extra=b""):
    if isinstance(content, str):
        content = content.encode()
    zi = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    zi.create_system = system
    if kind == "file":
        zi.external_attr = (stat.S_IFREG | (mode or 0o644)) << 16
    elif kind == "dir":
        zi.external_attr = ((stat.S_IFDIR | (mode or 0o755)) << 16) | 0x10
        method = zipfile.ZIP_STORED
    elif kind == "sym":
        zi.external_attr = (stat.S_IFLNK | 0o777) << 16
        method = zipfile.ZIP_STORED
    if system == 0:
        zi.external_attr &= 0xFFFF
    zi.compress_type = method
    zi.extra = extra
    return zi, content


def ZS(name, target):
    return Z(name, target, kind="sym")


def zipped(members):
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are on purpose
        with zipfile.ZipFile(buf, "w") as zf:
            for zi, content in members:
                zf.writestr(zi, content)
    return buf.getvalue()


def zip_zeros(name, size):
    """One deflated member of `size` zeros, streamed through zipfile."""
    buf = io.BytesIO()
    zi, _ = Z(name)
    with zipfile.ZipFile(buf, "w") as zf, zf.open(zi, "w") as out:
        left = size
        while left:
            n = min(left, MIB)
            out.write(ZERO_MIB[:n])
            left -= n
    return buf.getvalue()


def zip_records(data):
    """(central header offset, local header offset) of every member."""
    eocd = data.rindex(b"PK\x05\x06")
    count, _, offset = struct.unpack_from("<HII", data, eocd + 10)
    records = []
    for _ in range(count):
        assert data[offset:offset + 4] == b"PK\x01\x02"
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, offset + 28)
        local = struct.unpack_from("<I", data, offset + 42)[0]
        records.append((offset, local))
        offset += 46 + name_len + extra_len + comment_len
    return records


def zip_patch(data, member, *, crc=None, usize=None, method=None, flags_or=0, local_name=None):
    """Rewrites fields of member number `member` in both its local and central headers."""
    out = bytearray(data)
    central, local = zip_records(data)[member]
    if crc is not None:
        struct.pack_into("<I", out, local + 14, crc)
        struct.pack_into("<I", out, central + 16, crc)
    if usize is not None:
        struct.pack_into("<I", out, local + 22, usize)
        struct.pack_into("<I", out, central + 24, usize)
    if method is not None:
        struct.pack_into("<H", out, local + 8, method)
        struct.pack_into("<H", out, central + 10, method)
    if flags_or:
        for at in (local + 6, central + 8):
            struct.pack_into("<H", out, at, struct.unpack_from("<H", out, at)[0] | flags_or)
    if local_name is not None:
        name_len = struct.unpack_from("<H", out, local + 26)[0]
        assert len(local_name) == name_len
        out[local + 30:local + 30 + name_len] = local_name
    return bytes(out)


def zip_crc(data, member):
    central, _ = zip_records(data)[member]
    return struct.unpack_from("<I", data, central + 16)[0]


# ---------------------------------------------------------------- corruption helpers

def flip(data, at, mask=0xFF):
    out = bytearray(data)
    out[at] ^= mask
    return bytes(out)


def xz_check_offset(stream):
    """Offset of the last block's CRC64 in a one-block xz stream."""
    backward = struct.unpack_from("<I", stream, len(stream) - 8)[0]
    index_size = (backward + 1) * 4
    return len(stream) - 12 - index_size - 8


def split_compress(tar_data, compress, at):
    """Two concatenated streams, split in the middle of the tar, so the first stream's trailer
    is checked before the archive can end."""
    return compress(tar_data[:at]), compress(tar_data[at:])


# ---------------------------------------------------------------- case registry

class Cases:
    def __init__(self, out):
        self.out, self.cases, self.names = out, [], set()

    def add(self, name, why, expect, inputs, *, pre=(), runs=1, present=None, absent=(),
            env=None, modes=None, sizes=None, absent_abs=None, not_symlinks=None):
        assert name not in self.names, name
        assert expect in ("refused", "ok", "ok-or-refused"), expect
        self.names.add(name)
        if isinstance(inputs, dict):
            inputs = [inputs]
        dirs = []
        for i, objects in enumerate(inputs):
            rel = f"cases/{name}/src" + ("" if i == 0 else str(i + 1))
            dirs.append(rel)
            for objname, data in objects.items():
                path = os.path.join(self.out, rel, objname)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data.encode() if isinstance(data, str) else data)
            os.makedirs(os.path.join(self.out, rel), exist_ok=True)
        case = {"name": name, "why": why, "inputs": dirs, "pre": list(pre), "runs": runs,
                "expect": expect, "present": present or {}, "absent": list(absent),
                "outside_untouched": True}
        if env:
            case["env"] = env
        if modes:
            case["modes"] = modes
        if sizes:
            case["sizes"] = sizes
        if absent_abs:
            case["absent_abs"] = absent_abs
        if not_symlinks:
            case["not_symlinks"] = not_symlinks
        self.cases.append(case)


def pre_file(path, content):
    return {"type": "file", "path": path, "content": content}


def pre_dir(path, mode):
    return {"type": "dir", "path": path, "mode": mode}


def pre_link(path, target):
    return {"type": "symlink", "path": path, "target": target}


# Each d/upN -> up(N-1)/.. is lexically d, but really climbs one level more than the one before:
# d/up is the root, d/up2 its parent, d/up3 the parent's parent. Extracting directly into the
# destination, d/up2/outside is the victim; extracting into a staging directory one level down,
# d/up3/outside is. Every case aims through both.
CHAIN = [D("d"), S("d/up", ".."), S("d/up2", "up/.."), S("d/up3", "up2/..")]
CHAIN_LINKS = ["d/up2", "d/up3"]
DOT_CHAIN = [S("x", "."), S("a/y", "../x/..")]          # a/y is lexically the root, really <dest>/..


# ---------------------------------------------------------------- the cases

def traversal(c):
    for name, member, why in [
        ("tar-dotdot-path", "../outside/x", "a member named ../outside/x writes beside the destination"),
        ("tar-dotdot-after-dir", "a/../../outside/x", "a member whose .. climbs out after a real directory"),
        ("tar-dot-dotdot", "./../outside/x", "a ./ prefix hides a leading .. from a naive prefix check"),
        ("tar-dotdot-deep", "a/b/c/../../../../outside/x", "several .. that together leave the root"),
    ]:
        c.add(name, why, "refused", {"data.tar": tar([F(member, "pwned")])})
    for name, member in [("tar-absolute-path", ABS + "/x"), ("tar-double-slash-absolute", "/" + ABS + "/x")]:
        c.add(name, f"an absolute member name ({member}) writes anywhere on the machine", "refused",
              {"data.tar": tar([F(member, "pwned")])}, absent_abs=[ABS + "/x"])
    c.add("tar-gnu-longname-dotdot", "a GNU ././@LongLink name longer than 100 bytes hides ../ past the ustar field",
          "refused", {"data.tar": tar([F("a" * 120 + "/../../outside/x", "pwned")], fmt=tarfile.GNU_FORMAT)})
    c.add("tar-pax-path-override", "the ustar name says safe.txt but the pax 'path' record (which wins) says ../outside/x",
          "refused", {"data.tar": tar([F("safe.txt", "pwned", pax={"path": "../outside/x"})])})
    c.add("tar-dotdot-dir-entry", "directory entries for .. and ../outside with mode 0777, whose modes are applied last",
          "refused", {"data.tar": tar([D("..", 0o777), D("../outside", 0o777), F("ok.txt", "ok")])})


def symlinks(c):
    c.add("tar-symlink-escape-write-through", "l -> ../outside, then a file l/x written through it",
          "refused", {"data.tar": tar([S("l", "../outside"), F("l/x", "pwned")])}, absent=["l"])
    c.add("tar-symlink-escape-only", "a lone symlink l -> ../outside left for a later writer",
          "refused", {"data.tar": tar([S("l", "../outside")])}, absent=["l"])
    c.add("tar-symlink-absolute", "an absolute symlink l -> /etc", "refused",
          {"data.tar": tar([S("l", "/etc")])}, absent=["l"])
    c.add("tar-symlink-absolute-write-through", f"l -> {ABS}, then l/x written through it", "refused",
          {"data.tar": tar([S("l", ABS), F("l/x", "pwned")])}, absent=["l"], absent_abs=[ABS + "/x"])
    c.add("tar-symlink-deep-dotdot", "a/b/c -> ../../../outside climbs one level more than its depth",
          "refused", {"data.tar": tar([S("a/b/c", "../../../outside")])}, absent=["a/b/c"])
    c.add("tar-pax-linkpath-override", "the ustar linkname says inside.txt but the pax 'linkpath' says ../outside",
          "refused", {"data.tar": tar([F("inside.txt", "in"), S("l", "inside.txt", pax={"linkpath": "../outside"})])},
          absent=["l"])
    c.add("symlink-chain-escape", "d/up -> .., d/up2 -> up/.., d/up3 -> up2/.. each look inside, but d/up2 is the "
          "destination's parent (d/up3 the one above); then d/up2/outside/x and d/up3/outside/x are written through "
          "the chain", "refused",
          {"data.tar": tar(CHAIN + [F("d/up2/outside/x", "pwned"), F("d/up3/outside/x", "pwned")])},
          absent=CHAIN_LINKS)
    c.add("symlink-chain-escape-links-only", "the same chain with no write: d/up2 and d/up3 must not be left "
          "pointing above the destination", "refused", {"data.tar": tar(CHAIN)}, absent=CHAIN_LINKS)
    c.add("symlink-dot-chain-escape", "x -> . and a/y -> ../x/.. look inside lexically, but a/y resolves to the "
          "destination's parent; then a/y/outside/x is written", "refused",
          {"data.tar": tar(DOT_CHAIN + [F("a/y/outside/x", "pwned")])}, absent=["a/y"])
    c.add("symlink-dot-chain-links-only", "the x -> . / a/y -> ../x/.. chain alone", "refused",
          {"data.tar": tar(DOT_CHAIN)}, absent=["a/y"])
    c.add("tar-write-through-inside-symlink", "l -> sub (inside), then l/f.txt: harmless, may be written or refused",
          "ok-or-refused", {"data.tar": tar([D("sub"), S("l", "sub"), F("l/f.txt", "through")])})
    c.add("tar-symlink-loop", "a -> b, b -> a and self -> self: loops that stay inside", "ok-or-refused",
          {"data.tar": tar([S("a", "b"), S("b", "a"), S("self", "self"), F("f.txt", "f")])})
    c.add("tar-symlink-empty-target", "a symlink with an empty target", "ok-or-refused",
          {"data.tar": tar([S("empty", ""), F("f.txt", "f")])})


def hardlinks(c):
    c.add("tar-hardlink-dotdot", "hardlink h -> ../outside/secret.txt pulls a victim file into the dataset",
          "refused", {"data.tar": tar([H("h", "../outside/secret.txt")])}, absent=["h"])
    c.add("tar-hardlink-absolute", "hardlink h -> /etc/passwd", "refused",
          {"data.tar": tar([H("h", "/etc/passwd")])}, absent=["h"])
    c.add("hardlink-through-symlink-chain", "hardlinks h -> d/up2/outside/secret.txt and h3 -> "
          "d/up3/outside/secret.txt, through the chain that climbs above the destination", "refused",
          {"data.tar": tar(CHAIN + [H("h", "d/up2/outside/secret.txt"), H("h3", "d/up3/outside/secret.txt")])},
          absent=["h", "h3"] + CHAIN_LINKS)
    c.add("hardlink-to-escaping-symlink", "a/s -> ../outside is inside at depth 1; hardlink s2 -> a/s copies the "
          "symlink itself to depth 0, where the same target leaves", "refused",
          {"data.tar": tar([S("a/s", "../outside"), H("s2", "a/s")])}, absent=["s2"])
    c.add("hardlink-via-refused-symlink", "e -> ../outside (refused), then hardlink h -> e/secret.txt through it",
          "refused", {"data.tar": tar([S("e", "../outside"), H("h", "e/secret.txt")])}, absent=["h", "e"])
    c.add("tar-hardlink-then-overwrite", "hardlink h -> ../outside/victim.txt, then a regular file h overwrites "
          "whatever h now is", "refused",
          {"data.tar": tar([H("h", "../outside/victim.txt"), F("h", "pwned")])}, absent=["h"])
    c.add("hardlink-chain-then-overwrite", "hardlinks h, h3 -> d/up2|d/up3/outside/victim.txt through the chain, "
          "then regular files h, h3", "refused",
          {"data.tar": tar(CHAIN + [H("h", "d/up2/outside/victim.txt"), H("h3", "d/up3/outside/victim.txt"),
                                    F("h", "pwned"), F("h3", "pwned")])}, absent=["h", "h3"] + CHAIN_LINKS)
    c.add("pre-symlink-hardlink-target", "a symlink evil -> @OUTSIDE@ already in the destination; hardlinks "
          "h -> evil/secret.txt, and h1, h2 -> d/up/evil/secret.txt, d/up2/evil/secret.txt (which reach the "
          "destination's evil from a staging directory too)", "refused",
          {"data.tar": tar(CHAIN[:3] + [H("h", "evil/secret.txt"), H("h1", "d/up/evil/secret.txt"),
                                        H("h2", "d/up2/evil/secret.txt")])},
          pre=[pre_link("evil", "@OUTSIDE@")], absent=["h", "h1", "h2", "d/up2"])


def planted(c):
    # osmo's documented merge rule: a non-directory in the way of one of the archive's directories
    # (here the planted link) is replaced by that directory, never followed.
    c.add("pre-symlink-write-through", "a symlink evil -> @OUTSIDE@ already in the destination; the archive "
          "writes evil/x", "ok", {"data.tar": tar([F("evil/x", "pwned")])}, pre=[pre_link("evil", "@OUTSIDE@")],
          present={"evil/x": "pwned"}, not_symlinks=["evil"])
    c.add("pre-symlink-plain-object", "a symlink evil -> @OUTSIDE@ already in the destination; a plain "
          "(non-archive) object evil/x.txt is downloaded into it", "refused", {"evil/x.txt": "pwned"},
          pre=[pre_link("evil", "@OUTSIDE@")])
    c.add("pre-symlink-file-overwrite", "victim -> @OUTSIDE@/victim.txt already in the destination; the archive "
          "has a regular file victim (replace the link or refuse, never write through it)", "ok-or-refused",
          {"data.tar": tar([F("victim", "pwned")])}, pre=[pre_link("victim", "@OUTSIDE@/victim.txt")])
    c.add("pre-symlink-file-overwrite-plain", "victim -> @OUTSIDE@/victim.txt already in the destination; a plain "
          "object named victim is downloaded", "ok-or-refused", {"victim": "pwned"},
          pre=[pre_link("victim", "@OUTSIDE@/victim.txt")])
    c.add("pre-staging-symlink", "a symlink named like the extractor's staging directory "
          "(.osmo-extract-data.tar -> @OUTSIDE@) is already in the destination", "ok-or-refused",
          {"data.tar": tar([F("hello.txt", "hello")])}, pre=[pre_link(".osmo-extract-data.tar", "@OUTSIDE@")])
    c.add("tar-entry-named-like-staging", "the archive's own top-level entry is named like its staging directory",
          "ok-or-refused", {"data.tar": tar([F(".osmo-extract-data.tar/x", "x"), F("y.txt", "y")])})
    c.add("shards-plant-then-write", "shard a plants evil -> ../outside, shard b writes evil/x", "refused",
          {"shard-a.tar": tar([S("evil", "../outside")]), "shard-b.tar": tar([F("evil/x", "pwned")])},
          not_symlinks=["evil"])
    c.add("shards-chain-then-write", "shard a plants the d/up.. chain; shard b writes d/up2/outside/x and "
          "d/up3/outside/x", "refused",
          {"shard-a.tar": tar(CHAIN), "shard-b.tar": tar([F("d/up2/outside/x", "pwned"), F("d/up3/outside/x", "pwned")])},
          not_symlinks=CHAIN_LINKS)
    c.add("shards-inside-link-then-escape", "shard a has a/up -> .. (inside); shard b has a/up/esc -> ../outside "
          "(inside lexically, outside if merged through a/up); shard c writes a/up/esc/x.txt", "ok-or-refused",
          {"shard-a.tar": tar([S("a/up", "..")]), "shard-b.tar": tar([S("a/up/esc", "../outside")]),
           "shard-c.tar": tar([F("a/up/esc/x.txt", "pwned")])}, absent=["esc"])
    c.add("two-inputs-inside-link-then-escape", "the same a/up -> .. then a/up/esc -> ../outside then a/up/esc/x.txt, "
          "as three dataset inputs into one destination", "ok-or-refused",
          [{"a.tar": tar([S("a/up", "..")])}, {"b.tar": tar([S("a/up/esc", "../outside")])},
           {"c.tar": tar([F("a/up/esc/x.txt", "pwned")])}], absent=["esc"])


def zips(c):
    for name, member in [("zip-dotdot-path", "../outside/x"), ("zip-dotdot-after-dir", "a/../../outside/x"),
                         ("zip-dot-dotdot", "./../outside/x")]:
        c.add(name, f"a zip member named {member}", "refused", {"data.zip": zipped([Z(member, "pwned")])})
    c.add("zip-absolute-path", f"a zip member named {ABS}/x", "refused",
          {"data.zip": zipped([Z(ABS + "/x", "pwned")])}, absent_abs=[ABS + "/x"])
    c.add("zip-dir-entry-dotdot", "a zip directory entry ../outside/newdir/", "refused",
          {"data.zip": zipped([Z("../outside/newdir/", kind="dir", mode=0o777)])})
    c.add("zip-symlink-escape-write-through", "zip symlink l -> ../outside (S_IFLNK in external_attr), then l/x",
          "refused", {"data.zip": zipped([ZS("l", "../outside"), Z("l/x", "pwned")])}, absent=["l"])
    c.add("zip-symlink-escape-only", "a lone zip symlink l -> ../outside", "refused",
          {"data.zip": zipped([ZS("l", "../outside")])}, absent=["l"])
    c.add("zip-symlink-absolute", "zip symlink l -> /etc", "refused", {"data.zip": zipped([ZS("l", "/etc")])},
          absent=["l"])
    chain = [Z("d/", kind="dir"), ZS("d/up", ".."), ZS("d/up2", "up/.."), ZS("d/up3", "up2/..")]
    c.add("zip-symlink-chain-escape", "zip symlinks d/up -> .., d/up2 -> up/.., d/up3 -> up2/.., then "
          "d/up2/outside/x and d/up3/outside/x", "refused",
          {"data.zip": zipped(chain + [Z("d/up2/outside/x", "pwned"), Z("d/up3/outside/x", "pwned")])},
          absent=CHAIN_LINKS)
    c.add("zip-symlink-chain-links-only", "the zip symlink chain alone", "refused", {"data.zip": zipped(chain)},
          absent=CHAIN_LINKS)
    back = "..\\..\\outside\\x"
    c.add("zip-backslash-unix", "a member named ..\\..\\outside\\x made on Unix: a plain name with backslashes "
          "inside, or refused", "ok-or-refused", {"data.zip": zipped([Z(back, "pwned")])})
    c.add("zip-backslash-dos", "the same backslash name made on MS-DOS, where a reader may turn \\ into /",
          "ok-or-refused", {"data.zip": zipped([Z(back, "pwned", system=0)])})
    c.add("zip-drive-letter", "members named C:\\osmo-hostile\\x and C:/osmo-hostile/y", "ok-or-refused",
          {"data.zip": zipped([Z("C:\\osmo-hostile\\x", "pwned", system=0), Z("C:/osmo-hostile/y", "pwned")])})
    mismatch = zipped([Z("aaaaaaaaaaaa", "pwned")])
    c.add("zip-local-central-name-mismatch", "the central directory says aaaaaaaaaaaa, the local header says "
          "../outside/x", "ok-or-refused", {"data.zip": zip_patch(mismatch, 0, local_name=b"../outside/x")})
    real = "../outside/x".encode()
    field = struct.pack("<BI", 1, zlib.crc32(b"safe.txt")) + real
    extra = struct.pack("<HH", 0x7075, len(field)) + field
    c.add("zip-unicode-path-extra-override", "name safe.txt, but an Info-ZIP Unicode Path extra field "
          "(0x7075) says ../outside/x", "ok-or-refused", {"data.zip": zipped([Z("safe.txt", "pwned", extra=extra)])})


TREE = [("tree/a.txt", "alpha\n"), ("tree/sub/b.txt", "beta\n"), ("tree/sub/deeper/c.txt", "gamma\n")]


def legit(c):
    tree_tar = tar([D("tree"), D("tree/sub"), D("tree/empty")] + [F(p, s) for p, s in TREE] + [S("tree/link", "a.txt")])
    tree_present = dict(TREE, **{"tree/link": "->a.txt", "tree/empty": None})
    formats = [("legit-tar", "data.tar", lambda d: d), ("legit-tar-gz", "data.tar.gz", gz),
               ("legit-tgz", "data.tgz", gz), ("legit-tar-xz", "data.tar.xz", xz),
               ("legit-tar-bz2", "data.tar.bz2", bz)]
    if zst:
        formats.append(("legit-tar-zst", "data.tar.zst", zst))
    if lz4:
        formats.append(("legit-tar-lz4", "data.tar.lz4", lz4))
    for name, objname, compress in formats:
        c.add(name, f"a small tree with a symlink and an empty directory as {objname}", "ok",
              {objname: compress(tree_tar)}, present=tree_present)
    zip_tree = [Z("tree/", kind="dir"), Z("tree/empty/", kind="dir")] + [Z(p, s) for p, s in TREE]
    c.add("legit-zip", "the small tree as a deflated zip", "ok", {"data.zip": zipped(zip_tree)},
          present=dict(TREE, **{"tree/empty": None}))
    c.add("legit-zip-stored", "the small tree as a stored zip with no directory entries", "ok",
          {"data.zip": zipped([Z(p, s, method=zipfile.ZIP_STORED) for p, s in TREE])}, present=dict(TREE))
    c.add("zip-symlink-inside", "zip symlink data/link -> file.txt beside its target", "ok",
          {"data.zip": zipped([Z("data/file.txt", "file"), ZS("data/link", "file.txt")])},
          present={"data/file.txt": "file", "data/link": "->file.txt"})
    c.add("zip-duplicate-name", "the same member name twice in one zip: the later one wins", "ok",
          {"data.zip": zipped([Z("dup.txt", "first"), Z("dup.txt", "second")])}, present={"dup.txt": "second"})
    # Versions of two names, big (1 MiB, slow to write) and small in turn, the small ones last:
    # the pool of writer threads must keep entry order per name, or a big earlier version
    # finishes after, and over, the small later one.
    versions = []
    for i in range(24):
        name = f"v/{(i // 2) % 2}.txt"
        body = (f"version {i} " * 80000)[:1 << 20] if i % 2 == 0 else f"version {i}"
        versions.append((name, body))
    last = {}
    for name, body in versions:
        last[name] = body
    c.add("zip-duplicate-many", "24 entries over 2 names, each big then at once small, in a zip: the last of each name wins",
          "ok", {"data.zip": zipped([Z(n, b) for n, b in versions])}, present=last)
    c.add("tar-duplicate-many", "the same 24 entries in a tar: the last of each name wins", "ok",
          {"data.tar": tar([F(n, b) for n, b in versions])}, present=last)
    c.add("zip-unicode", "UTF-8 names (flag bit 11) in a zip", "ok",
          {"data.zip": zipped([Z("données/été.txt", "été"), Z("日本/語.txt", "語")])},
          present={"données/été.txt": "été", "日本/語.txt": "語"})
    c.add("shards-share-dirs", "two shards both fill train/: everything from both stays", "ok",
          {"shard-1.tar": tar([D("train"), F("train/a.txt", "a"), F("val/x.txt", "x")]),
           "shard-2.tar": tar([F("train/b.txt", "b"), F("train/sub/c.txt", "c")])},
          present={"train/a.txt": "a", "train/b.txt": "b", "train/sub/c.txt": "c", "val/x.txt": "x"})
    c.add("pre-keep-file", "a user's file already in the destination stays", "ok",
          {"data.tar": tar([F("new.txt", "new"), F("sub/n.txt", "n")])},
          pre=[pre_file("keep.txt", "mine"), pre_dir("sub", "0755"), pre_file("sub/keep2.txt", "mine too")],
          present={"keep.txt": "mine", "sub/keep2.txt": "mine too", "new.txt": "new", "sub/n.txt": "n"})
    c.add("pre-dir-modes-kept", "directories already in the destination (0700, and 1777 sticky) keep their modes and "
          "contents when the archive adds files to them", "ok",
          {"data.tar": tar([F("d/new.txt", "new"), F("shared/new.txt", "new")])},
          pre=[pre_dir("d", "0700"), pre_file("d/old.txt", "old"), pre_dir("shared", "1777")],
          present={"d/old.txt": "old", "d/new.txt": "new", "shared/new.txt": "new"},
          modes={"d": "0700", "shared": "1777"})
    c.add("tar-duplicate-name-later-wins", "the same file twice in one tar: the second content wins", "ok",
          {"data.tar": tar([F("dup.txt", "first"), F("dup.txt", "second")])}, present={"dup.txt": "second"})
    c.add("tar-symlink-then-file-same-name", "x -> y, then a regular file x: the later entry (the file) wins",
          "ok", {"data.tar": tar([F("y", "why"), S("x", "y"), F("x", "second")])},
          present={"x": "second", "y": "why"})
    c.add("tar-file-then-symlink-same-name", "a regular file x, then x -> y: the later entry (the symlink) wins",
          "ok", {"data.tar": tar([F("y", "why"), F("x", "first"), S("x", "y")])}, present={"x": "->y", "y": "why"})
    c.add("tar-symlink-sibling-no-dir-entry", "data/link -> file.txt where data/ has no entry of its own", "ok",
          {"data.tar": tar([F("data/file.txt", "file"), S("data/link", "file.txt")])},
          present={"data/file.txt": "file", "data/link": "->file.txt"})
    c.add("tar-symlink-dir-inside", "latest -> runs/3, a relative link to a directory inside", "ok",
          {"data.tar": tar([F("runs/1/m.txt", "1"), F("runs/3/m.txt", "3"), S("latest", "runs/3")])},
          present={"latest": "->runs/3", "runs/3/m.txt": "3", "runs/1/m.txt": "1"})
    c.add("tar-symlink-up-inside", "a/b/link -> ../../top.txt climbs exactly to the root and stays inside", "ok",
          {"data.tar": tar([F("top.txt", "top"), S("a/b/link", "../../top.txt")])},
          present={"top.txt": "top", "a/b/link": "->../../top.txt"})
    c.add("tar-hardlink-inside", "hardlinks h and sub/h2 to a regular file inside", "ok",
          {"data.tar": tar([F("f.txt", "payload"), H("h", "f.txt"), H("sub/h2", "f.txt")])},
          present={"f.txt": "payload", "h": "payload", "sub/h2": "payload"})
    c.add("tar-no-dir-entries", "files deep in directories that have no entries", "ok",
          {"data.tar": tar([F("deep/er/x.txt", "x"), F("deep/y.txt", "y")])},
          present={"deep/er/x.txt": "x", "deep/y.txt": "y"})
    c.add("tar-dot-root-entry", "a ./ entry with mode 0777 for the archive root, then ./a.txt", "ok",
          {"data.tar": tar([D(".", 0o777), F("./a.txt", "a"), F("./b/./c.txt", "c")])},
          present={"a.txt": "a", "b/c.txt": "c"})
    c.add("tar-unicode-pax", "UTF-8 names carried in pax path records", "ok",
          {"data.tar": tar([F("données/été.txt", "été"), F("日本/語.txt", "語")])},
          present={"données/été.txt": "été", "日本/語.txt": "語"})
    c.add("tar-unicode-raw-utf8", "UTF-8 names as raw bytes in plain ustar headers", "ok",
          {"data.tar": tar([F("données/été.txt", "été")], fmt=tarfile.USTAR_FORMAT)},
          present={"données/été.txt": "été"})
    nfc, nfd = "\u00e9t\u00e9.txt", "e\u0301te\u0301.txt"
    c.add("tar-unicode-nfc-nfd", "the same visible name in NFC and NFD as raw ustar bytes: two different files "
          "on Linux, both kept", "ok", {"data.tar": tar([F(nfc, "nfc"), F(nfd, "nfd")], fmt=tarfile.USTAR_FORMAT)},
          present={nfc: "nfc", nfd: "nfd"})
    c.add("tar-unicode-nfd-pax", "an NFD name (as macOS writes them) in a pax path record keeps its exact bytes "
          "(not normalised to NFC)", "ok", {"data.tar": tar([F(nfd, "nfd")])}, present={nfd: "nfd"}, absent=[nfc])
    c.add("tar-non-utf8-name", "a name with a byte that is not UTF-8 (0xff)", "ok-or-refused",
          {"data.tar": tar([F("bad\udcff.txt", "bad"), F("good.txt", "good")], fmt=tarfile.USTAR_FORMAT)})
    odd = ["-rf", "...", "..foo", "foo..", ".hidden", "sp ace.txt", "new\nline.txt", "tab\tname", "#hash", "~tilde",
           "semi;colon", "back\\slash", "quote'\"", "a/.../b.txt"]
    c.add("tar-odd-names", "legal names a careless check may confuse with .. or a flag", "ok",
          {"data.tar": tar([F(n, n) for n in odd])}, present={n: n for n in odd})
    c.add("tar-modes", "directory 0700, file 0600 and executable 0755 keep their modes", "ok",
          {"data.tar": tar([D("priv", 0o700), F("priv/key", "k", 0o600), F("bin/run", "#!/bin/sh\n", 0o755)])},
          present={"priv/key": "k", "bin/run": "#!/bin/sh\n"},
          modes={"priv": "0700", "priv/key": "0600", "bin/run": "0755"})
    c.add("tar-empty-things", "an empty file, an empty directory and an empty nested directory",
          "ok", {"data.tar": tar([F("empty.txt", ""), D("nothing"), D("a/b/c")])},
          present={"empty.txt": "", "nothing": None, "a/b/c": None})
    c.add("tar-sparse-inside", "a small PAX 1.0 sparse file: data at 512 KiB inside 1 MiB of holes", "ok",
          {"data.tar": tar([SPARSE("holey.bin", MIB, [(512 * 1024, b"hello")])])},
          present={"holey.bin": None}, sizes={"holey.bin": MIB})
    rerun = tar([F("runs/3/m.txt", "3"), S("latest", "runs/3"), F("top.txt", "top"), H("hard.txt", "top.txt")])
    c.add("rerun-legit", "the same archive extracted twice over the same destination", "ok",
          {"data.tar": rerun}, runs=2,
          present={"runs/3/m.txt": "3", "latest": "->runs/3", "top.txt": "top", "hard.txt": "top"})
    c.add("rerun-zip", "the same zip extracted twice", "ok", {"data.zip": zipped([Z(p, s) for p, s in TREE])},
          runs=2, present=dict(TREE))
    c.add("tar-readonly-dir-rerun", "a 0555 directory with a file, extracted twice (the rerun must replace it)",
          "ok", {"data.tar": tar([D("ro", 0o555), F("ro/f.txt", "f", 0o444)])}, runs=2,
          present={"ro/f.txt": "f"}, modes={"ro": "0555"})
    inner = tar([F("../outside/x", "pwned")])
    c.add("tar-nested-archive-not-recursed", "an archive inside the archive (itself hostile) stays a file", "ok",
          {"data.tar": tar([F("inner.tar", inner)])}, present={"inner.tar": None}, absent=["x"])
    c.add("plain-zip-named-bin", "a hostile zip stored as payload.bin: not named .zip, so kept as a file", "ok",
          {"payload.bin": zipped([Z("../outside/x", "pwned")])}, present={"payload.bin": None}, absent=["x"])
    c.add("plain-gz-not-tar", "a gzipped hostile tar named notes.gz: not a tar name, so kept as a file", "ok",
          {"notes.gz": gz(inner)}, present={"notes.gz": None}, absent=["x"])
    c.add("plain-fake-tar", "a text file named fake.tar: not an archive by content, so kept as a file", "ok",
          {"fake.tar": "not really a tar\n"}, present={"fake.tar": "not really a tar\n"})


def corruption(c):
    bad = zipped([Z("good.txt", "good"), Z("bad.txt", noise(4000, 1).hex())])
    c.add("zip-bad-crc", "a zip member whose CRC-32 (local and central) does not match its data", "refused",
          {"data.zip": zip_patch(bad, 1, crc=zip_crc(bad, 1) ^ 0xDEADBEEF)}, absent=["bad.txt"])
    two = zipped([Z("a.bin", noise(20000, 2)), Z("b.bin", noise(20000, 3))])
    _, local_b = zip_records(two)[1]
    c.add("zip-truncated", "a zip cut in the middle of its second member (no central directory)", "refused",
          {"data.zip": two[:local_b + 30 + 5 + 10000]}, absent=["b.bin"])
    c.add("zip-unsupported-method", "a zip member with compression method 97 (unknown)", "refused",
          {"data.zip": zip_patch(zipped([Z("m.txt", "method")]), 0, method=97)}, absent=["m.txt"])
    c.add("zip-encrypted-flag", "a zip member flagged as encrypted, with no password", "refused",
          {"data.zip": zip_patch(zipped([Z("e.txt", "secret-ish")]), 0, flags_or=1)}, absent=["e.txt"])

    payload = tar([F("first.bin", noise(30000, 4)), F("bad.bin", noise(30000, 5)), F("last.txt", "last")])
    cut = 512 + 30208 + 512 + 15000  # inside bad.bin
    part1, part2 = split_compress(payload, gz, cut)
    c.add("targz-bad-crc", "a two-member tar.gz whose first member's trailing CRC-32 is wrong (data intact)",
          "refused", {"data.tar.gz": flip(part1, len(part1) - 8) + part2}, absent=["bad.bin"])
    stored = gz(payload, level=0)
    at = stored.index(payload[cut:cut + 64])
    c.add("targz-silent-corruption", "a stored-deflate tar.gz with one content byte changed: inflates cleanly, "
          "only the gzip CRC-32 tells", "refused", {"data.tar.gz": flip(stored, at, 0x01)}, absent=["bad.bin"])
    one = xz(payload)
    c.add("tarxz-bad-check", "a tar.xz whose block CRC64 check is wrong (data intact)", "refused",
          {"data.tar.xz": flip(one, xz_check_offset(one))}, absent=["bad.bin"])
    x1, x2 = split_compress(payload, xz, cut)
    c.add("tarxz-bad-check-two-streams", "two concatenated xz streams; the first one's check is wrong, so it is "
          "met before the archive ends", "refused", {"data.tar.xz": flip(x1, xz_check_offset(x1)) + x2},
          absent=["bad.bin"])
    b1, b2 = split_compress(payload, bz, cut)
    c.add("tarbz2-corrupt", "two concatenated bzip2 streams; the first has a changed byte in its middle", "refused",
          {"data.tar.bz2": flip(b1, len(b1) // 2) + b2}, absent=["bad.bin"])
    full = gz(payload)
    c.add("targz-truncated", "a tar.gz cut in the middle of a member", "refused",
          {"data.tar.gz": full[:len(full) // 2]}, absent=["bad.bin"])
    c.add("tar-truncated", "a plain tar cut in the middle of a file's data", "refused",
          {"data.tar": payload[:cut]}, absent=["bad.bin"])
    if zst:
        z = zst(payload)
        c.add("tarzst-truncated", "a tar.zst cut in the middle", "refused", {"data.tar.zst": z[:len(z) // 2]},
              absent=["bad.bin"])
    hdr = bytearray(tar([F("empty", ""), F("second.txt", "second")]))
    hdr[512 + 148:512 + 156] = b"0000000\0"
    c.add("tar-bad-header-checksum", "the second tar header's checksum is wrong", "refused",
          {"data.tar": bytes(hdr)}, absent=["second.txt"])


def bombs(c):
    limit = {"OSMO_EXTRACT_MAX_BYTES": "10000000"}
    ratio = {"OSMO_EXTRACT_MAX_RATIO": "100"}
    z200 = zip_zeros("zeros.bin", 200 * MIB)
    c.add("zip-bomb-max-bytes", "a ~200 KB zip whose one member inflates to 200 MiB, with a 10 MB limit", "refused",
          {"data.zip": z200}, env=limit, absent=["zeros.bin"])
    c.add("zip-bomb-max-ratio", "the same 200 MiB zip bomb, with a 100:1 ratio limit", "refused",
          {"data.zip": z200}, env=ratio, absent=["zeros.bin"])
    c.add("zip-lying-size-bomb", "the 200 MiB member declares an uncompressed size of 10 bytes (local and "
          "central), with a 10 MB limit", "refused", {"data.zip": zip_patch(z200, 0, usize=10)}, env=limit,
          absent=["zeros.bin"])
    c.add("zip-inflates-300mib", "no limit: a ~300 KB zip inflates one member to 300 MiB; must work with "
          "bounded memory", "ok", {"data.zip": zip_zeros("zeros.bin", 300 * MIB)},
          present={"zeros.bin": None}, sizes={"zeros.bin": 300 * MIB})
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as g:
        tar_into(g, [F("zeros.bin", (200 * MIB, Zeros(200 * MIB)))])
    c.add("targz-bomb-max-bytes", "a ~200 KB tar.gz holding 200 MiB of zeros, with a 10 MB limit", "refused",
          {"data.tar.gz": buf.getvalue()}, env=limit, absent=["zeros.bin"])
    c.add("targz-bomb-max-ratio", "the same tar.gz bomb, with a 100:1 ratio limit", "refused",
          {"data.tar.gz": buf.getvalue()}, env=ratio, absent=["zeros.bin"])
    c.add("tar-sparse-16gib-max-bytes", "a 2 KB tar holding a PAX sparse file of 16 GiB (5 bytes of data), with a "
          "10 MB limit: the declared size counts", "refused",
          {"data.tar": tar([SPARSE("huge.bin", 16 << 30, [(0, b"hello")])])}, env=limit, absent=["huge.bin"])


def specials(c):
    c.add("tar-char-device", "a character device node (1,3) in a tar", "refused",
          {"data.tar": tar([DEV("null", tarfile.CHRTYPE, 1, 3), F("ok.txt", "ok")])}, absent=["null"])
    c.add("tar-block-device", "a block device node (8,0) in a tar", "refused",
          {"data.tar": tar([DEV("disk", tarfile.BLKTYPE, 8, 0), F("ok.txt", "ok")])}, absent=["disk"])
    c.add("tar-fifo", "a FIFO in a tar is skipped, the rest is extracted", "ok",
          {"data.tar": tar([FIFO("pipe"), F("other.txt", "other")])}, present={"other.txt": "other"},
          absent=["pipe"])
    c.add("tar-setuid", "setuid/setgid files and a setgid directory: the bits are dropped, the rest kept", "ok",
          {"data.tar": tar([F("suid", "#!/bin/sh\n", 0o4755), F("sgid", "#!/bin/sh\n", 0o2755),
                            D("sgid-dir", 0o2775), F("sgid-dir/f.txt", "f")])},
          present={"suid": "#!/bin/sh\n", "sgid": "#!/bin/sh\n", "sgid-dir/f.txt": "f"},
          modes={"suid": "0755", "sgid": "0755", "sgid-dir": "0775"})
    long_component = "n" * 300
    deep = "/".join(["p" * 250] * 20) + "/x.txt"
    c.add("tar-path-too-long", "a 300-byte name component and a 5000-byte path", "ok-or-refused",
          {"data.tar": tar([F(long_component, "long"), F(deep, "deep"), F("ok.txt", "ok")])})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output directory (cases/ and cases.json are replaced)")
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)
    shutil.rmtree(os.path.join(out, "cases"), ignore_errors=True)
    c = Cases(out)
    for group in (traversal, symlinks, hardlinks, planted, zips, legit, corruption, bombs, specials):
        group(c)
    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(c.cases, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
