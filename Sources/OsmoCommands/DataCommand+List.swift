import ArgumentParser
import Glibc
import OsmoCore
import OsmoData
import OsmoSystem

extension DataCommand {
    /// `list URL [LOCAL_FILE | --no-pager] [-p PREFIX] [-r] [-x REGEX]`, printing as the
    /// reference (`data.py` `_run_list_command`): one full key per line, then a blank line and
    /// `Total N objects found` on stdout (also when the keys went to a file).
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the keys under a URL, then the total.",
            discussion: """
            One level by default ("directories" end in /); -r lists the whole tree. Each line is \
            the object's full key in its bucket (the absolute path for file://).
            """)
        @Argument(help: "The URL to list.") var url: String
        @Argument(help: "Write the keys to this file instead (it must not exist yet).") var localPath: String?
        @Option(name: [.customShort("x"), .long], help: "Only keys whose path below the listed prefix matches this regex, anchored at the start.")
        var regex: String?
        @Option(name: [.customShort("p"), .long], help: "A prefix (directory) below the URL to list.")
        var prefix = ""
        @Flag(name: [.customShort("r"), .long], help: "List recursively.")
        var recursive = false
        @Flag(name: .customLong("no-pager"), help: "Print to stdout even on a terminal (a pipe or file never gets a pager).")
        var noPager = false
        @OptionGroup var common: Common

        func validate() throws {
            guard let localPath else { return }
            if noPager { throw ValidationError("argument --no-pager: not allowed with argument local_path") }
            if FileSystem.isDirectory(localPath) { throw ValidationError("\(localPath) is a directory. Please give a file path!") }
            if FileSystem.exists(localPath) { throw ValidationError("\(localPath) file already exists!") }
        }

        func run() throws {
            try DataFailure.wrap(upload: false) {
                let entries = try DataListing.entries(url, prefix: prefix, regex: regex, recursive: recursive, credentials: try common.credentials())
                if entries.isEmpty { OsmoMain.writeError(DataListing.emptyWarning(url, prefix: prefix, regex: regex) + "\n") }
                let text = entries.map { $0.key + "\n" }.joined()
                if let localPath {
                    try FileSystem.writeAtomically(Array(text.utf8), to: localPath, mode: 0o644)
                } else if noPager || isatty(1) == 0 || !List.page(text) {
                    print(text, terminator: "")
                }
                print("\nTotal \(entries.count) objects found")
            }
        }

        /// Shows `text` in `less` (else `more`) when one is on PATH; false when there is none.
        static func page(_ text: String) -> Bool {
            let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
            guard let pager = ["less", "more"].lazy.compactMap({ ExecutableLocation.search($0, path: path) }).first,
                  let pipe = try? ProcessControl.pipe() else { return false }
            guard let child = try? ChildProcess.spawn(executable: pager, arguments: [pager], environment: ChildProcess.currentEnvironment, stdin: pipe.read) else {
                close(pipe.read)
                close(pipe.write)
                return false
            }
            close(pipe.read)
            // Quitting the pager early closes the pipe: stop writing, quietly.
            signal(SIGPIPE, SIG_IGN)
            try? FileSystem.writeAll(pipe.write, text, what: "the pager")
            close(pipe.write)
            _ = try? child.wait()
            return true
        }
    }

    /// `delete URL [-x REGEX]`: every object under the URL (the whole bucket for `s3://bucket`),
    /// without a prompt, as the reference. It logs `Data has been deleted, success_count=N,
    /// failures=M` and each failure on stderr; failures exit 12 (14 when refused), where the
    /// reference exits 0.
    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete the objects under a URL (no prompt).",
            discussion: "The URL's key itself when it names one object, else everything below it.")
        @Argument(help: "The URL whose objects are deleted.") var url: String
        @Option(name: [.customShort("x"), .long], help: "Only paths below the URL matching this regex, anchored at the start.")
        var regex: String?
        @OptionGroup var common: Common

        func run() throws {
            try DataFailure.wrap(upload: true) {
                let summary = try DataDeletion.delete(url, regex: regex, credentials: try common.credentials())
                if let warning = summary.warning { OsmoMain.writeError(warning + "\n") }
                OsmoMain.writeError("Data has been deleted, success_count=\(summary.successCount), failures=\(summary.failures.count)\n")
                for failure in summary.failures { OsmoMain.writeError("\(failure)\n") }
                if let first = summary.failures.first {
                    throw OsmoError(first.code == .unauthorized ? .unauthorized : .io,
                                    "\(summary.failures.count) of \(summary.failures.count + summary.successCount) objects could not be deleted")
                }
            }
        }
    }
}
