import ArgumentParser
import Glibc
import OsmoCore
import OsmoData
import OsmoSystem

extension DataCommand {
    /// `check URL [-a READ|WRITE|DELETE] [-c CONFIG_FILE]`, printing exactly what the reference
    /// prints (`json.dumps`): `{"status": "pass"}` or `{"status": "fail", "error": "…"}`, and
    /// exiting 0 either way, as scripts and the reference ctrl expect (they read the JSON). A URL
    /// or config file that cannot be used is a usage error (exit 2, no JSON). `--exit-code` adds
    /// our codes to a failed check: 14 refused, 13 otherwise, 2 for bad input (JSON printed).
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check access; prints {\"status\": \"pass\"} or {\"status\": \"fail\", \"error\": …}.")
        @Argument(help: "The URL (or profile, s3://bucket) to check.") var url: String
        @Option(name: [.customShort("a"), .customLong("access-type")], help: "READ, WRITE or DELETE.")
        var accessType = "READ"
        @Option(name: [.customShort("c"), .customLong("config-file")],
                help: "The credentials file to use alone (instead of the default ones and --config).")
        var configFile: String?
        @Flag(name: .customLong("exit-code"), help: "Exit non-zero when the check fails (13, or 14 when access is refused).")
        var exitCode = false
        @OptionGroup var common: Common

        func validate() throws {
            guard DataAccess.Kind(rawValue: accessType.uppercased()) != nil else {
                throw ValidationError("--access-type must be one of \(DataAccess.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let configFile, !FileSystem.exists(configFile) {
                throw ValidationError("\(configFile) is not a valid path")
            }
        }

        func run() throws {
            let kind = DataAccess.Kind(rawValue: accessType.uppercased())!
            // The reference's switch for deployments that check access elsewhere.
            if getenv("OSMO_SKIP_DATA_AUTH").map({ String(cString: $0) }) == "1" {
                print(DataJSON.object([("status", "pass")]))
                return
            }
            do {
                let credentials = try configFile.map { file in
                    let credentials = DataCredentials.load(required: [file], flag: "--config-file")
                    try credentials.checkFiles()
                    return credentials
                } ?? common.credentials()
                try DataAccess.check(url, kind, credentials: credentials)
                print(DataJSON.object([("status", "pass")]))
            } catch {
                let failure = error as? OsmoError ?? OsmoError(.dataAuth, "\(error)")
                let usage = failure.code == .invalidInput || failure.code == .usage
                if usage && !exitCode {
                    throw DataFailure(error: failure, code: .usage)
                }
                print(DataJSON.object([("status", "fail"), ("error", "\(failure)")]))
                guard exitCode else { return }
                throw DataFailure(error: failure, code: usage ? .usage : failure.code == .unauthorized ? .dataUnauthorized : .dataAuthCheckFailed)
            }
        }
    }
}
