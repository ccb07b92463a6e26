import FoundationEssentials
import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// One store the reference command lines run against: a `file://` directory, or a bucket of
/// moto's signature-checking S3 (`Tests/Servers/s3.py`).
final class DataCLIBackend: CustomStringConvertible {
    let scratch = Scratch("osmo-cli")
    let s3: S3TestServer?

    init(_ name: String) throws {
        s3 = name == "s3" ? try S3TestServer() : nil
    }

    var description: String { s3 == nil ? "file" : "s3" }
    var root: String { scratch.at("store") }

    /// The URL of `key` in this store.
    func url(_ key: String) -> String {
        if let s3 { return "s3://\(s3.bucket)/\(key)" }
        return "file://\(root)/\(key)"
    }

    /// The full key `list` prints for `key` (the bucket key; the absolute path for file://).
    func key(_ key: String) -> String { s3 == nil ? "\(root)/\(key)" : key }

    var environment: [String] { s3?.environment() ?? ["HOME=\(scratch.path)"] }

    func osmo(_ arguments: [String], environment extra: [String] = []) throws -> Finished {
        try Shell.run(OsmoBinary.path, ["data"] + arguments, environment: ChildProcess.currentEnvironment + environment + extra)
    }

    /// `run/ds/{a.txt, b.txt, other/e.bin, sub/c.txt, sub/deep/d.txt}` and a sibling
    /// `run/ds2/x.txt` whose name starts like it, uploaded with `osmo data upload`.
    func populate() throws {
        for (name, text) in [("a.txt", "a\n"), ("b.txt", "b\n"), ("other/e.bin", "e"), ("sub/c.txt", "c\n"), ("sub/deep/d.txt", "d\n")] {
            try scratch.write("src/ds/\(name)", text)
        }
        try scratch.write("src/ds2/x.txt", "x\n")
        let upload = try osmo(["upload", url("run"), scratch.at("src/ds"), scratch.at("src/ds2")])
        #expect(upload.status == 0, "\(upload.stderr)")
    }

    /// `list` output for these keys: one per line, a blank line, the total.
    func listing(_ keys: [String]) -> String {
        keys.map { key($0) + "\n" }.joined() + "\nTotal \(keys.count) objects found\n"
    }
}

/// `osmo data` taking the reference CLI's command lines (`src/cli/data.py`), short and long
/// forms, through the built binary against `file://` and moto S3, outputs compared byte for byte.
@Suite(.serialized)
struct DataCLITests {
    static let backends = ["file", "s3"]

    @Test(arguments: backends)
    func listPrintsFullKeysAndTheTotal(_ name: String) throws {
        let store = try DataCLIBackend(name)
        try store.populate()
        let ds = store.url("run/ds")
        let table: [([String], [String])] = [
            (["list", ds], ["run/ds/other/", "run/ds/sub/", "run/ds/a.txt", "run/ds/b.txt"]),
            (["list", ds + "/", "--no-pager"], ["run/ds/other/", "run/ds/sub/", "run/ds/a.txt", "run/ds/b.txt"]),
            (["list", ds, "-r"], ["run/ds/a.txt", "run/ds/b.txt", "run/ds/other/e.bin", "run/ds/sub/c.txt", "run/ds/sub/deep/d.txt"]),
            (["list", ds, "--recursive", "--regex", "sub/"], ["run/ds/sub/c.txt", "run/ds/sub/deep/d.txt"]),
            (["list", ds, "-r", "-x", "(a|o)"], ["run/ds/a.txt", "run/ds/other/e.bin"]),
            (["list", ds, "-p", "sub"], ["run/ds/sub/deep/", "run/ds/sub/c.txt"]),
            (["list", ds, "--prefix", "sub/", "-r"], ["run/ds/sub/c.txt", "run/ds/sub/deep/d.txt"]),
            (["list", ds, "--prefix", "a.txt"], ["run/ds/a.txt"]),
            (["list", ds, "-x", "s"], ["run/ds/sub/"]),
            (["list", store.url("run")], ["run/ds/", "run/ds2/"]),
        ]
        for (arguments, keys) in table {
            let result = try store.osmo(arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(result.stdout == store.listing(keys), "\(arguments)")
        }

        let none = try store.osmo(["list", ds, "-x", "nothing"])
        #expect(none.status == 0)
        #expect(none.stdout == "\nTotal 0 objects found\n")
        #expect(none.stderr.contains("No entries matched regex nothing"), "\(none.stderr)")
        let missing = try store.osmo(["list", store.url("run/absent")])
        #expect(missing.status == 0)
        #expect(missing.stdout == "\nTotal 0 objects found\n")
        #expect(missing.stderr.contains("No entries found for prefix: \(store.key("run/absent/"))"), "\(missing.stderr)")

        // LOCAL_FILE gets the keys; the total still goes to stdout. It must not exist yet.
        let file = store.scratch.at("keys.txt")
        let written = try store.osmo(["list", ds, file])
        #expect(written.status == 0, "\(written.stderr)")
        #expect(written.stdout == "\nTotal 4 objects found\n")
        #expect(text(of: file) == ["run/ds/other/", "run/ds/sub/", "run/ds/a.txt", "run/ds/b.txt"].map { store.key($0) + "\n" }.joined())
        for arguments in [["list", ds, file], ["list", ds, store.scratch.path], ["list", ds, store.scratch.at("new.txt"), "--no-pager"]] {
            let refused = try store.osmo(arguments)
            #expect(refused.status == 2, "\(arguments)")
            #expect(refused.stdout.isEmpty)
        }
    }

    @Test(arguments: backends)
    func deleteWithRegexExactObjectAndPrefix(_ name: String) throws {
        let store = try DataCLIBackend(name)
        try store.populate()
        let ds = store.url("run/ds")
        let byRegex = try store.osmo(["delete", ds, "-x", "sub/"])
        #expect(byRegex.status == 0, "\(byRegex.stderr)")
        #expect(byRegex.stderr.contains("Data has been deleted, success_count=2, failures=0"), "\(byRegex.stderr)")
        #expect(try store.osmo(["list", ds, "-r"]).stdout == store.listing(["run/ds/a.txt", "run/ds/b.txt", "run/ds/other/e.bin"]))

        let exact = try store.osmo(["delete", store.url("run/ds/a.txt")])
        #expect(exact.status == 0, "\(exact.stderr)")
        #expect(exact.stderr.contains("success_count=1, failures=0"), "\(exact.stderr)")

        let rest = try store.osmo(["delete", ds, "--regex", "(b|other)"])
        #expect(rest.stderr.contains("success_count=2, failures=0"), "\(rest.stderr)")
        #expect(try store.osmo(["list", ds, "-r"]).stdout == store.listing([]))
        // The sibling whose name starts the same is not under run/ds/.
        #expect(try store.osmo(["list", store.url("run"), "-r"]).stdout == store.listing(["run/ds2/x.txt"]))
        if store.s3 == nil {
            // Emptied subdirectories go; the named directory stays.
            #expect(try FileSystem.contents(of: Path.join(store.root, "run/ds")).isEmpty)
        }

        let nothing = try store.osmo(["delete", ds])
        #expect(nothing.status == 0)
        #expect(nothing.stderr.contains("success_count=0, failures=0"), "\(nothing.stderr)")
    }

    @Test(arguments: backends)
    func singleFileUploadNamesTheObjectExactly(_ name: String) throws {
        let store = try DataCLIBackend(name)
        try store.scratch.write("local/f.txt", "payload\n")
        try store.scratch.write("local/tree/t.txt", "t\n")
        let file = store.scratch.at("local/f.txt")
        for arguments in [
            ["upload", store.url("out/model.bin"), file],   // aws s3 cp: exactly this key
            ["upload", store.url("out/"), file],            // a trailing slash keeps the basename
            ["upload", store.url("out/dir"), store.scratch.at("local/tree")], // DIR keeps its name
        ] {
            let result = try store.osmo(arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }
        #expect(try store.osmo(["list", store.url("out"), "-r"]).stdout
            == store.listing(["out/dir/tree/t.txt", "out/f.txt", "out/model.bin"]))
        let download = try store.osmo(["download", store.url("out/model.bin"), store.scratch.at("down")])
        #expect(download.status == 0, "\(download.stderr)")
        #expect(text(of: store.scratch.at("down/model.bin")) == "payload\n")
    }

    @Test(arguments: backends)
    func checkPrintsTheReferenceJSONAndExitsZero(_ name: String) throws {
        let store = try DataCLIBackend(name)
        try store.populate()
        let pass = "{\"status\": \"pass\"}\n"
        for arguments in [
            ["check", store.url("run/ds")],
            ["check", store.url("run/ds"), "-a", "READ"],
            ["check", store.url("run/ds"), "--access-type", "WRITE"],
            ["check", store.url("run/ds"), "-a", "DELETE"],
            ["check", store.url("run/new/"), "--access-type", "write"],
        ] {
            let result = try store.osmo(arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(result.stdout == pass, "\(arguments): \(result.stdout)")
        }

        let refused: Finished
        if let s3 = store.s3 {
            refused = try store.osmo(["check", store.url("run/ds"), "-a", "READ"], environment: s3.environment(secret: "not-the-secret"))
        } else {
            refused = try store.osmo(["check", store.url("run/absent"), "-a", "READ"])
        }
        #expect(refused.status == 0, "\(refused.stderr)")
        #expect(refused.stdout.hasPrefix("{\"status\": \"fail\", \"error\": \""), "\(refused.stdout)")
        #expect(refused.stdout.hasSuffix("\"}\n"))
        let decoded = try JSONDecoder().decode([String: String].self, from: Data(refused.stdout.utf8))
        #expect(decoded["status"] == "fail")
        #expect(!(decoded["error"] ?? "").isEmpty)
        // Our exit codes only when asked for.
        let strict: Finished
        if let s3 = store.s3 {
            strict = try store.osmo(["check", store.url("run/ds"), "--exit-code"], environment: s3.environment(secret: "not-the-secret"))
            #expect(strict.status == 14)
        } else {
            strict = try store.osmo(["check", store.url("run/absent"), "--exit-code"])
            #expect(strict.status == 13)
        }
        #expect(strict.stdout == refused.stdout)

        // A malformed URL or a missing config file is a usage error, without JSON.
        for arguments in [["check", "s4://bucket/x"], ["check", store.url("run"), "-c", store.scratch.at("absent.yaml")],
                          ["check", store.url("run"), "-a", "LIST"]] {
            let bad = try store.osmo(arguments)
            #expect(bad.status == 2, "\(arguments)")
            #expect(bad.stdout.isEmpty, "\(arguments): \(bad.stdout)")
        }
        let skipped = try store.osmo(["check", "s3://osmo-nowhere/x"], environment: ["OSMO_SKIP_DATA_AUTH=1"])
        #expect(skipped.stdout == pass)
    }

    /// `-c/--config-file` is the only credentials file (what the reference ctrl passes):
    /// `osmo data check <url> --access-type READ --config-file <userConfig>`.
    @Test func checkReadsTheGivenConfigFile() throws {
        let store = try DataCLIBackend("s3")
        let s3 = try #require(store.s3)
        func config(_ name: String, _ secret: String) throws -> String {
            let path = store.scratch.at("\(name).yaml")
            try FileSystem.writeAtomically(Array("""
                auth:
                  data:
                    s3://\(s3.bucket):
                      access_key_id: \(s3.accessKeyID)
                      access_key: \(secret)
                      region: us-east-1
                      override_url: \(s3.endpoint)

                """.utf8), to: path)
            return path
        }
        let good = try config("good", s3.secretAccessKey), bad = try config("bad", "not-the-secret")
        let badEnvironment = s3.environment(secret: "not-the-secret")
        let passed = try store.osmo(["check", store.url("p"), "--access-type", "READ", "--config-file", good], environment: badEnvironment)
        #expect(passed.stdout == "{\"status\": \"pass\"}\n", "\(passed.stdout) \(passed.stderr)")
        let failed = try store.osmo(["check", store.url("p"), "-a", "WRITE", "-c", bad])
        #expect(failed.status == 0)
        #expect(failed.stdout.hasPrefix("{\"status\": \"fail\", \"error\": \""), "\(failed.stdout)")
    }

    /// Upload and download with every reference flag, short and long: the transfer happens,
    /// and `-b` writes the reference's metrics file.
    @Test(arguments: backends)
    func transferFlagsAndBenchmarkFiles(_ name: String) throws {
        let store = try DataCLIBackend(name)
        try store.scratch.write("src/set/one.txt", "1\n")
        try store.scratch.write("src/set/two.log", "22\n")
        try store.scratch.write("src/set/deep/three.txt", "333\n")
        let set = store.scratch.at("src/set")
        let table: [(up: [String], down: [String], files: [String], uploaded: (files: Int64, bytes: Int64))] = [
            (["upload", store.url("a"), set, "-x", "set/.*txt", "-p", "2", "-T", "4", "-b", store.scratch.at("bench-a")],
             ["download", store.url("a"), store.scratch.at("down-a"), "-x", "set/deep", "-r", "-p", "1", "-T", "3", "-b", store.scratch.at("bench-a")],
             ["set/deep/three.txt"], (2, 6)),
            (["upload", store.url("b"), set + "/*", "--regex", ".*log", "--processes", "1", "--threads", "2", "--benchmark-out", store.scratch.at("bench-b")],
             ["download", store.url("b"), store.scratch.at("down-b"), "--regex", "two", "--resume", "--processes", "2", "--threads", "1", "--benchmark-out", store.scratch.at("bench-b")],
             ["two.log"], (1, 3)),
            // Our long options still work, with no metrics asked for.
            (["upload", store.url("c"), set, "--regex", "set/one"],
             ["download", store.url("c"), store.scratch.at("down-c"), "--no-resume", "--no-extract"],
             ["set/one.txt"], (1, 2)),
        ]
        for (index, row) in table.enumerated() {
            let up = try store.osmo(row.up)
            #expect(up.status == 0, "\(row.up): \(up.stderr)")
            let down = try store.osmo(row.down)
            #expect(down.status == 0, "\(row.down): \(down.stderr)")
            let destination = row.down[2]
            let got = try FileSystem.walk(destination).map(\.relativePath).sorted()
            #expect(got == row.files, "\(row.down)")
            let bench = store.scratch.at("bench-\(["a", "b", "c"][index])")
            guard index < 2 else {
                #expect(!FileSystem.exists(bench))
                continue
            }
            let names = try FileSystem.contents(of: bench).sorted()
            try #require(names.count == 2, "\(names)")
            let downloaded = (files: Int64(row.files.count), bytes: row.files.reduce(0) { $0 + Int64(text(of: Path.join(destination, $1)).utf8.count) })
            for (name, operation, moved) in [(names[0], "download_objects", downloaded), (names[1], "upload_objects", row.uploaded)] {
                #expect(name.wholeMatch(of: try Regex("\(operation)_[0-9]{13}\\.json")) != nil, "\(name)")
                let metrics = text(of: Path.join(bench, name))
                let shape = try Regex(#"\{\n    "start_time_ms":([0-9]+),\n    "end_time_ms":([0-9]+),\n    "duration_ms":([0-9]+),\n    "average_mbps":[0-9]+,\n    "total_bytes_transferred":([0-9]+),\n    "total_number_of_files":([0-9]+)\n\}"#)
                let match = try #require(metrics.wholeMatch(of: shape), "\(metrics)")
                let numbers = (1...5).map { Int64(match.output[$0].substring.map(String.init) ?? "") ?? -1 }
                #expect(numbers[0] <= numbers[1] && abs(numbers[1] - numbers[0] - numbers[2]) <= 1, "\(metrics)")
                #expect(numbers[3] == moved.bytes && numbers[4] == moved.files, "\(name): \(metrics)")
            }
        }

        for arguments in [["upload", store.url("z"), set, "-p", "0"], ["download", store.url("a"), store.scratch.at("z"), "--threads", "none"]] {
            let refused = try store.osmo(arguments)
            #expect(refused.status == 2, "\(arguments)")
        }
    }
}
