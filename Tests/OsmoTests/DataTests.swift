import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// `osmo data` through the built binary against real servers, real archives and real faults.
@Suite(.serialized)
struct DataTests {
    func osmo(_ arguments: [String], environment: [String] = []) throws -> Finished {
        try Shell.run(OsmoBinary.path, ["data"] + arguments, environment: ChildProcess.currentEnvironment + environment)
    }

    func read(_ path: String) -> [UInt8] { (try? FileSystem.readFile(path)) ?? [] }

    /// Compares without handing big arrays to `#expect` (its failure text would print them all).
    func holds(_ path: String, _ bytes: [UInt8]) -> Bool { read(path) == bytes }

    @Test func localTreeWithRegexAndSymlink() throws {
        let scratch = Scratch()
        try scratch.write("src/keep/a.txt", "a\n")
        try scratch.write("src/keep/deep/b.txt", "b\n")
        try scratch.write("src/skip/c.txt", "c\n")
        try Shell.sh("ln -s a.txt \(scratch.at("src/keep/link"))")
        let result = try osmo(["download", "file://\(scratch.at("src"))", scratch.at("out"), "--regex", "keep/"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(holds(scratch.at("out/keep/deep/b.txt"), Array("b\n".utf8)))
        #expect(FileSystem.readLink(scratch.at("out/keep/link")) == "a.txt")
        #expect(!FileSystem.exists(scratch.at("out/skip")))
    }

    @Test func malformedURLAndRegexAreUsageErrors() throws {
        let scratch = Scratch()
        for (arguments, message) in [
            (["download", "s4://bucket/x", scratch.at("o")], "unknown scheme 's4'"),
            (["download", "s3://", scratch.at("o")], "no bucket"),
            (["download", "azure://account", scratch.at("o")], "expected azure://account/container/path"),
            (["download", scratch.path, scratch.at("o"), "--regex", "(unclosed"], "invalid regex"),
        ] {
            let result = try osmo(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
        }
    }

    @Test func httpDownloadSurvivesFaultsAndResumesWithRanges() throws {
        let server = try HTTPTestServer()
        let payload = testBytes(6_000_000)
        try server.put("big.bin", payload)
        try server.faults("big.bin", """
            [{"status": 500}, {"status": 429, "retry_after": 1}, {"drop_after": 1000000}, {"truncate_after": 2000000}]
            """)
        let scratch = Scratch()
        let result = try osmo(["download", server.url("big.bin"), scratch.at("out")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(holds(scratch.at("out/big.bin"), payload))
        let log = server.accesses(path: "big.bin", expecting: 5)
        #expect(log.map(\.status) == [500, 429, 200, 206, 206])
        // Every byte crossed the wire once: the retries asked only for what was missing.
        #expect(log[3].range == "bytes=1000000-")
        #expect(log[4].range == "bytes=3000000-")
        #expect(log.filter { $0.status / 100 == 2 }.reduce(0) { $0 + $1.bytes } == Int64(payload.count))
        #expect(!FileSystem.exists(scratch.at("out/big.bin.osmo-part")))
        #expect(!FileSystem.exists(scratch.at("out/big.bin.osmo-part.state")))
    }

    @Test func forbiddenIsFinalAndLeavesNothing() throws {
        let server = try HTTPTestServer()
        try server.put("secret.bin", testBytes(1000))
        try server.faults("secret.bin", #"[{"status": 403}, {"status": 403}]"#)
        let scratch = Scratch()
        let result = try osmo(["download", server.url("secret.bin"), scratch.at("out")])
        #expect(result.status == 14)
        #expect(result.stderr.contains("HTTP 403"), "\(result.stderr)")
        #expect(server.accesses(path: "secret.bin", expecting: 1).count == 1)
        #expect(!FileSystem.exists(scratch.at("out/secret.bin")))
    }

    @Test func killedDownloadResumesFromTheLastByte() throws {
        let server = try HTTPTestServer()
        let payload = testBytes(8_000_000, seed: 7)
        try server.put("data.bin", payload)
        try server.faults("data.bin", #"[{"throttle": 4000000, "sticky": true}]"#)
        let scratch = Scratch()
        let out = scratch.at("out")
        let child = try ChildProcess.spawn(
            executable: OsmoBinary.path, arguments: ["osmo", "data", "download", server.url("data.bin"), out],
            environment: ChildProcess.currentEnvironment)
        let part = Path.join(out, "data.bin.osmo-part")
        let deadline = Clock.now + 20
        while (FileSystem.status(part).map { Int($0.st_size) } ?? 0) < payload.count / 2 && Clock.now < deadline { usleep(10_000) }
        child.signal(SIGKILL)
        _ = try child.wait()
        let held = Int64(FileSystem.status(part)?.st_size ?? 0)
        #expect(held >= Int64(payload.count / 2) && held < Int64(payload.count))
        try server.faults("data.bin", "[]")

        let result = try osmo(["download", server.url("data.bin"), out])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(holds(Path.join(out, "data.bin"), payload))
        // The killed request's log line can come after the resumed one's: find the ranged one.
        let resumed = server.accesses(path: "data.bin", expecting: 2).first { $0.range != nil }
        #expect(resumed?.range == "bytes=\(held)-")
        #expect(resumed?.bytes == Int64(payload.count) - held)
    }

    @Test func changedObjectRestartsInsteadOfSplicing() throws {
        let server = try HTTPTestServer()
        let old = testBytes(3_000_000, seed: 1)
        let new = testBytes(3_500_000, seed: 2)
        try server.put("v.bin", old)
        try server.faults("v.bin", #"[{"drop_after": 1500000}, {"status": 500}, {"status": 500}, {"status": 500}]"#)
        let scratch = Scratch()
        // First run: dropped at 1.5 MB, then refused until it gives up (retry budget via faults
        // is too long to wait for, so kill it once the part file holds the prefix).
        let child = try ChildProcess.spawn(
            executable: OsmoBinary.path, arguments: ["osmo", "data", "download", server.url("v.bin"), scratch.at("out")],
            environment: ChildProcess.currentEnvironment)
        let part = scratch.at("out/v.bin.osmo-part")
        let deadline = Clock.now + 20
        while (FileSystem.status(part).map { Int($0.st_size) } ?? 0) < 1_500_000 && Clock.now < deadline { usleep(10_000) }
        child.signal(SIGKILL)
        _ = try child.wait()
        try server.faults("v.bin", "[]")
        try server.put("v.bin", new)
        let result = try osmo(["download", server.url("v.bin"), scratch.at("out")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(holds(scratch.at("out/v.bin"), new))
    }

    @Test func fileSizeLimitFailsCleanly() throws {
        let server = try HTTPTestServer()
        try server.put("big.bin", testBytes(3_000_000))
        let scratch = Scratch()
        let result = try Shell.run("/bin/sh", ["-c", "ulimit -f 1024; exec \"$0\" data download \"$1\" \"$2\"",
                                               OsmoBinary.path, server.url("big.bin"), scratch.at("out")])
        #expect(result.status == 10, "\(result.stderr)")
        #expect(result.stderr.contains("file too large"), "\(result.stderr)")
        #expect(!FileSystem.exists(scratch.at("out/big.bin")))
    }

    @Test(arguments: ["tar.gz", "tar.zst", "tar.xz", "tar.bz2", "tar", "zip"])
    func archivesStreamIntoPlace(_ kind: String) throws {
        let scratch = Scratch()
        try scratch.write("tree/données/é.txt", "utf8\n")
        try scratch.write("tree/run.sh", "#!/bin/sh\n", mode: 0o755)
        try scratch.write("tree/deep/a/b/c/d.txt", "deep\n")
        try FileSystem.writeAtomically(testBytes(300_000), to: scratch.at("tree/blob.bin"))
        try Shell.sh("cd \(scratch.at("tree")) && ln -s run.sh link && ln blob.bin hard.bin && touch -d '2020-01-02 03:04:05' deep/a/b/c/d.txt")
        let server = try HTTPTestServer()
        let archive = Path.join(server.root, "data.\(kind)")
        let tree = scratch.at("tree")
        switch kind {
        case "tar.gz": try Shell.sh("tar czf \(archive) -C \(tree) .")
        case "tar.zst": try Shell.sh("tar --zstd -cf \(archive) -C \(tree) .")
        case "tar.xz": try Shell.sh("bsdtar -cJf \(archive) -C \(tree) .")
        case "tar.bz2": try Shell.sh("tar cjf \(archive) -C \(tree) .")
        case "tar": try Shell.sh("bsdtar -cf \(archive) -C \(tree) .")
        default: try Shell.sh("cd \(tree) && zip -qry \(archive) .")
        }
        let out = scratch.at("out")
        let result = try osmo(["download", server.url("data.\(kind)"), out])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(holds(Path.join(out, "données/é.txt"), Array("utf8\n".utf8)))
        #expect(holds(Path.join(out, "blob.bin"), testBytes(300_000)))
        #expect((FileSystem.status(Path.join(out, "run.sh"))?.st_mode ?? 0) & 0o777 == 0o755)
        #expect(FileSystem.readLink(Path.join(out, "link")) == "run.sh")
        #expect(FileSystem.status(Path.join(out, "deep/a/b/c/d.txt"))?.st_mtim.tv_sec == FileSystem.status(Path.join(tree, "deep/a/b/c/d.txt"))?.st_mtim.tv_sec)
        if kind != "zip" {
            #expect(FileSystem.status(Path.join(out, "hard.bin"))?.st_ino == FileSystem.status(Path.join(out, "blob.bin"))?.st_ino)
        }
        #expect(!FileSystem.exists(Path.join(out, "data.\(kind)")))
        #expect(try FileSystem.contents(of: out).allSatisfy { !$0.hasPrefix(".osmo") })

        let kept = try osmo(["download", server.url("data.\(kind)"), scratch.at("kept"), "--no-extract"])
        #expect(kept.status == 0)
        #expect(holds(scratch.at("kept/data.\(kind)"), read(archive)))
    }

    /// A connection lost while the archive streams: within the first bytes (still deciding what
    /// it is) and in the middle of extraction (the rest is asked for with a Range request).
    @Test(arguments: [100, 400_000])
    func archiveStreamSurvivesADroppedConnection(_ dropAfter: Int) throws {
        let scratch = Scratch()
        try FileSystem.makeDirectory(scratch.at("tree"), mode: 0o755)
        for i in 0..<20 { try FileSystem.writeAtomically(testBytes(50_000, seed: UInt64(i + 1)), to: scratch.at("tree/f\(i).bin")) }
        let server = try HTTPTestServer()
        try Shell.sh("tar czf \(server.root)/set.tar.gz -C \(scratch.at("tree")) .")
        try server.faults("set.tar.gz", "[{\"drop_after\": \(dropAfter)}]")
        let result = try osmo(["download", server.url("set.tar.gz"), scratch.at("out")])
        #expect(result.status == 0, "\(result.stderr)")
        for i in 0..<20 { #expect(holds(scratch.at("out/f\(i).bin"), testBytes(50_000, seed: UInt64(i + 1))), "f\(i)") }
        let log = server.accesses(path: "set.tar.gz", expecting: 2)
        #expect(log.count == 2)
        if dropAfter > 512 { #expect(log.last?.range == "bytes=\(dropAfter)-") }
    }

    @Test func hostileArchivesAreRefusedAndWriteNothingOutside() throws {
        let scratch = Scratch()
        let server = try HTTPTestServer()
        try Shell.sh("""
            python3 - <<'PY'
            import io, tarfile
            def add(t, name, data=b"x", **kw):
                info = tarfile.TarInfo(name)
                for k, v in kw.items(): setattr(info, k, v)
                info.size = len(data) if info.type == tarfile.REGTYPE else 0
                t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
            with tarfile.open("\(server.root)/evil.tar.gz", "w:gz") as t:
                add(t, "ok.txt", b"fine")
                add(t, "../escape.txt")
                add(t, "/abs.txt")
                add(t, "a/../../up.txt")
                add(t, "out", type=tarfile.SYMTYPE, linkname="\(scratch.path)")
                add(t, "out/through.txt")
                add(t, "rel", type=tarfile.SYMTYPE, linkname="../../..")
                add(t, "hard", type=tarfile.LNKTYPE, linkname="/etc/passwd")
                add(t, "suid", b"#!/bin/sh", mode=0o4755)
            PY
            """)
        let result = try osmo(["download", server.url("evil.tar.gz"), scratch.at("dest/in")])
        #expect(result.status == 10, "\(result.stderr)")
        for name in ["../escape.txt", "/abs.txt", "a/../../up.txt", "out: symlink", "rel: symlink", "hard: hardlink"] {
            #expect(result.stderr.contains(name), "\(name) not reported: \(result.stderr)")
        }
        #expect(!FileSystem.exists(scratch.at("escape.txt")))
        #expect(!FileSystem.exists(scratch.at("dest/escape.txt")))
        #expect(!FileSystem.exists(scratch.at("up.txt")))
        #expect(!FileSystem.exists(scratch.at("through.txt")))
        #expect(!FileSystem.exists("/abs.txt"))
        // A refused archive leaves no half tree behind.
        #expect(try FileSystem.contents(of: scratch.at("dest/in")).isEmpty)
    }

    @Test func setuidBitsAreDropped() throws {
        let scratch = Scratch()
        try scratch.write("tree/tool", "#!/bin/sh\n", mode: 0o755)
        try Shell.sh("chmod 4755 \(scratch.at("tree/tool")) && tar czf \(scratch.at("t.tar.gz")) -C \(scratch.at("tree")) .")
        let result = try osmo(["download", scratch.at("t.tar.gz"), scratch.at("out")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect((FileSystem.status(scratch.at("out/tool"))?.st_mode ?? 0) & 0o7777 == 0o755)
    }

    /// A trickling server (200 bytes/s) fails the download within the configured deadline,
    /// with a message, instead of holding the task for hours; the same for the minimum speed.
    @Test func tricklingServerFailsInsteadOfHanging() throws {
        let server = try HTTPTestServer()
        try server.put("slow.bin", testBytes(2_000_000))
        try server.faults("slow.bin", #"[{"throttle": 200, "sticky": true}]"#)
        let scratch = Scratch()
        let deadline = try osmo(["download", server.url("slow.bin"), scratch.at("a")],
                                environment: ["OSMO_TRANSFER_DEADLINE_SECONDS=4"])
        #expect(deadline.status == 10, "\(deadline.stderr)")
        #expect(deadline.stderr.contains("not done within 4 s"), "\(deadline.stderr)")
        #expect(!FileSystem.exists(scratch.at("a/slow.bin")))
        let slow = try osmo(["download", server.url("slow.bin"), scratch.at("b")],
                            environment: ["OSMO_TRANSFER_STALL_SECONDS=1", "OSMO_TRANSFER_MIN_SPEED=100000"])
        #expect(slow.status == 10, "\(slow.stderr)")
        #expect(slow.stderr.contains("too slow") || slow.stderr.contains("Operation too slow"), "\(slow.stderr)")
        #expect(!FileSystem.exists(scratch.at("b/slow.bin")))
    }

    /// The destination is left as the user made it: an existing directory's mode (0700, or a
    /// shared 1777 with its sticky bit) is never changed, and someone who does not own a
    /// writable shared directory can still download into it.
    @Test func destinationModesAreKeptAndSharedDirectoriesWork() throws {
        let scratch = Scratch()
        try scratch.write("src/a.txt", "a\n")
        try scratch.write("src/sub/b.txt", "b\n")
        try Shell.sh("cd \(scratch.at("src")) && tar czf \(scratch.at("set.tar.gz")) sub a.txt")
        try Shell.sh("mkdir -m 0700 \(scratch.at("private")) && mkdir \(scratch.at("shared")) && chmod 1777 \(scratch.at("shared"))")
        chmod(scratch.path, 0o755)
        for (destination, mode) in [("private", mode_t(0o700)), ("shared", mode_t(0o1777))] {
            #expect(try osmo(["download", "file://\(scratch.at("src"))", scratch.at(destination)]).status == 0)
            #expect(try osmo(["download", "file://\(scratch.at("set.tar.gz"))", scratch.at(destination)]).status == 0)
            #expect((FileSystem.status(scratch.at(destination))?.st_mode ?? 0) & 0o7777 == mode, "\(destination)")
        }
        // As another user (nobody), into the shared directory it does not own.
        let nobody = try Shell.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", OsmoBinary.path, "data",
                                                         "download", "file://\(scratch.at("set.tar.gz"))", scratch.at("shared/theirs")])
        #expect(nobody.status == 0, "\(nobody.stderr)")
        #expect(text(of: scratch.at("shared/theirs/sub/b.txt")) == "b\n")
        #expect((FileSystem.status(scratch.at("shared"))?.st_mode ?? 0) & 0o7777 == 0o1777)
    }

    /// A presigned URL's query and a fragment are not part of the file's name.
    @Test func queryAndFragmentAreNotPartOfTheName() throws {
        let server = try HTTPTestServer()
        try server.put("data/model.bin", Array("weights\n".utf8))
        let scratch = Scratch()
        let result = try osmo(["download", server.url("data/model.bin?X-Amz-Signature=abc&X-Amz-Expires=60#part"), scratch.at("out")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try FileSystem.contents(of: scratch.at("out")) == ["model.bin"])
    }

    /// A pattern that backtracks catastrophically is stopped with a clear usage error.
    @Test func catastrophicRegexIsBounded() throws {
        let scratch = Scratch()
        try scratch.write("src/" + String(repeating: "a", count: 40) + "!", "x")
        let result = try osmo(["download", "file://\(scratch.at("src"))", scratch.at("out"), "--regex", "(a+)+$"],
                              environment: ["OSMO_REGEX_SECONDS=1"])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("backtracks catastrophically"), "\(result.stderr)")
    }

    @Test func uploadThenDownloadRoundTripOverHTTP() throws {
        let server = try HTTPTestServer()
        let scratch = Scratch()
        try scratch.write("up/empty.txt", "")
        try scratch.write("up/données/é.txt", "é\n")
        try scratch.write("up/a b/c.txt", "space\n")
        try FileSystem.writeAtomically(testBytes(12_000_000, seed: 3), to: scratch.at("up/big.bin"))
        let result = try osmo(["upload", server.url("store"), scratch.at("up")])
        #expect(result.status == 0, "\(result.stderr)")
        // `upload URL DIR` keeps `DIR/` (the reference's get_upload_relative_path).
        for name in ["empty.txt", "données/é.txt", "a b/c.txt", "big.bin"] {
            #expect(holds(Path.join(server.root, "store/up", name), read(scratch.at("up", name))), "\(name)")
        }
    }

    /// The reference's upload key rule (`get_upload_relative_path` and its tests in
    /// `src/lib/data/storage/tests/test_common.py`): `DIR` and `DIR/` keep the directory's name,
    /// `DIR/*` uploads the contents, a file keeps its basename (under a URL ending in `/`: without
    /// one, a single file names the object exactly, see DataCLITests).
    @Test(arguments: [
        ("c", ["c/d/1.txt", "c/top.txt"]),
        ("c/", ["c/d/1.txt", "c/top.txt"]),
        ("c/*", ["d/1.txt", "top.txt"]),
        ("c/d/1.txt", ["1.txt"]),
    ])
    func uploadKeysFollowTheReferenceRule(source: String, keys: [String]) throws {
        let scratch = Scratch()
        try scratch.write("a/b/c/d/1.txt", "one\n")
        try scratch.write("a/b/c/top.txt", "top\n")
        let result = try osmo(["upload", "file://\(scratch.at("store"))/", scratch.at("a/b") + "/" + source])
        #expect(result.status == 0, "\(result.stderr)")
        let found = try FileSystem.walk(scratch.at("store")).map(\.relativePath).sorted()
        #expect(found == keys)
    }
}

/// The S3 dialect against a signature-checking S3 server (moto).
@Suite(.serialized)
struct S3DataTests {
    let data = DataTests()

    @Test func treeRoundTripWithMultipartAndStrangeNames() throws {
        let s3 = try S3TestServer()
        let scratch = Scratch()
        try scratch.write("up/empty.txt", "")
        try scratch.write("up/données/é.txt", "é\n")
        try scratch.write("up/a b/p+q=r&(1).txt", "odd\n")
        try scratch.write("up/1/2/3/4/5/6/7/deep.txt", "deep\n")
        let big = testBytes(100 << 20, seed: 11)
        try FileSystem.writeAtomically(big, to: scratch.at("up/big.bin"))
        let url = "s3://\(s3.bucket)/run/tree"
        let upload = try data.osmo(["upload", url, scratch.at("up")], environment: s3.environment())
        #expect(upload.status == 0, "\(upload.stderr)")

        let listing = try data.osmo(["list", url, "-r"], environment: s3.environment())
        #expect(listing.status == 0, "\(listing.stderr)")
        // Full keys, then a blank line and the total (the reference's format).
        #expect(listing.stdout.hasSuffix("\n\nTotal 5 objects found\n"), "\(listing.stdout)")
        let names = Set(listing.stdout.lines.filter { $0.hasPrefix("run/tree/") }.map { String($0.dropFirst("run/tree/".count)) })
        // `upload URL DIR` keeps `DIR/`, as the reference does.
        #expect(names == ["up/empty.txt", "up/données/é.txt", "up/a b/p+q=r&(1).txt", "up/1/2/3/4/5/6/7/deep.txt", "up/big.bin"])

        let download = try data.osmo(["download", url, scratch.at("down")], environment: s3.environment())
        #expect(download.status == 0, "\(download.stderr)")
        for name in names where name != "up/big.bin" {
            #expect(data.holds(scratch.at("down", name), data.read(scratch.at(name))), "\(name)")
        }
        #expect(data.holds(scratch.at("down/up/big.bin"), big))

        // A second run finds everything complete and moves nothing.
        let again = try data.osmo(["download", url, scratch.at("down")], environment: s3.environment())
        #expect(again.status == 0, "\(again.stderr)")
    }

    @Test func wrongSecretIsRefusedWithAClearMessage() throws {
        let s3 = try S3TestServer()
        let scratch = Scratch()
        try scratch.write("f.txt", "x\n")
        let upload = try data.osmo(["upload", "s3://\(s3.bucket)/p", scratch.at("f.txt")], environment: s3.environment())
        #expect(upload.status == 0, "\(upload.stderr)")
        let bad = s3.environment(secret: "not-the-secret")
        let download = try data.osmo(["download", "s3://\(s3.bucket)/p", scratch.at("out")], environment: bad)
        #expect(download.status == 14)
        #expect(download.stderr.contains("HTTP 403") && download.stderr.contains("SignatureDoesNotMatch"), "\(download.stderr)")
        for access in ["READ", "WRITE"] {
            let good = try data.osmo(["check", "s3://\(s3.bucket)/p", "--access-type", access], environment: s3.environment())
            #expect(good.status == 0 && good.stdout == "{\"status\": \"pass\"}\n", "\(good.stdout) \(good.stderr)")
            let refused = try data.osmo(["check", "s3://\(s3.bucket)/p", "--access-type", access, "--exit-code"], environment: bad)
            #expect(refused.status == 14)
            #expect(refused.stdout.hasPrefix("{\"status\": \"fail\", \"error\": \""), "\(refused.stdout)")
        }
    }

    @Test func archiveObjectIsExtractedWhileItDownloads() throws {
        let s3 = try S3TestServer()
        let scratch = Scratch()
        try scratch.write("tree/x/y.txt", "y\n")
        try Shell.sh("tar --zstd -cf \(scratch.at("set.tar.zst")) -C \(scratch.at("tree")) .")
        let url = "s3://\(s3.bucket)/datasets/set.tar.zst"
        #expect(try data.osmo(["upload", "s3://\(s3.bucket)/datasets/", scratch.at("set.tar.zst")], environment: s3.environment()).status == 0)
        let result = try data.osmo(["download", url, scratch.at("in")], environment: s3.environment())
        #expect(result.status == 0, "\(result.stderr)")
        #expect(data.holds(scratch.at("in/x/y.txt"), Array("y\n".utf8)))
    }
}
