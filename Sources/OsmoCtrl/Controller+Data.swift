import Glibc
import OsmoCore
import OsmoData
import OsmoSystem
import OsmoTransfer

extension Controller {
    func credentials(user: Bool) throws -> DataCredentials {
        do {
            return try DataCredentials.load(configFiles: [user ? options.userConfig : options.serviceConfig])
        } catch let error as OsmoError {
            throw Failure(code: .invalidInput, message: error.message)
        }
    }

    /// READ access for the user's `url:` inputs, WRITE for `url:` outputs, before anything moves.
    func checkAccess() throws {
        var checks: [(String, DataAccess.Kind)] = options.inputs.filter(\.userCredentials).map { ($0.url, .read) }
        checks += options.outputs.filter { $0.kind == .url }.map { ($0.url, .write) }
        guard !checks.isEmpty else { return }
        let credentials = try credentials(user: true)
        for (url, kind) in checks {
            log("Validating \(kind.rawValue) access for URI \(kind == .read ? "input" : "output"): \(url)")
            do { try DataAccess.check(url, kind, credentials: credentials) } catch let error as OsmoError {
                let code: ExitCode = error.code == .unauthorized ? .dataUnauthorized : error.code == .invalidInput ? .invalidInput : .dataAuthCheckFailed
                throw Failure(code: code, message: "Data unauthorized: \(kind.rawValue) access to \(url): \(error)")
            }
        }
    }

    /// All inputs at once (each into `<inputPath>/<folder>/`), with progress lines; SIGTERM stops
    /// the wait.
    func downloadInputs() throws {
        guard !options.inputs.isEmpty else {
            log("All Inputs Gathered")
            return
        }
        log("Downloading Start")
        let userCredentials = options.inputs.contains(where: \.userCredentials) ? try credentials(user: true) : nil
        let taskCredentials = options.inputs.contains { !$0.userCredentials } ? try credentials(user: false) : nil
        let state = ConditionLock((left: options.inputs.count, failures: [(InputSpec, OsmoError)]()))
        for input in options.inputs {
            log("Downloading \(input.name)")
            let downloader = Downloader(credentials: (input.userCredentials ? userCredentials : taskCredentials)!)
            let destination = Path.join(options.inputPath, input.folder)
            ThreadStarter.detach { [self] in
                let reporter = ProgressReporter(downloader.progress, live: false, label: input.name) { [self] line in
                    log(line, .download)
                }
                do {
                    let record = try downloader.download(input.url, into: destination, options: DownloadOptions(regex: input.regex.isEmpty ? nil : input.regex))
                    reporter.stop()
                    log("Downloaded \(input.name) to {{input:\(input.folder)}}")
                    for line in Controller.listing(destination, label: "{{input:\(input.folder)}}") { log(line) }
                    log("Moved \(record.summary)", .download)
                    records.withLock { $0.append((record, false)) }
                    state.withLock { $0.left -= 1 }
                } catch {
                    reporter.stop()
                    let failure = error as? OsmoError ?? OsmoError(.download, "\(error)")
                    state.withLock { $0.left -= 1; $0.failures.append((input, failure)) }
                }
                sink.flush()
            }
        }
        while state.wait(timeout: 0.2, until: { $0.left == 0 ? true : nil }) == nil {
            if !signals.drain().isEmpty {
                throw Failure(code: .misc, message: "terminated while downloading inputs")
            }
            sink.flush()
        }
        let failures = state.withLock { $0.failures }
        if let (input, error) = failures.first {
            let code = ExitCode.forTransfer(error.code, upload: false, cli: false)
            let all = failures.map { "\($0.0.name): \($0.1)" }.joined(separator: "; ")
            throw Failure(code: code, message: "Download of \(failures.count == 1 ? input.name : "\(failures.count) inputs") failed: \(all)")
        }
        log("All Inputs Gathered")
    }

    /// Every output spec, in order; runs after the command whatever its outcome.
    func uploadOutputs() throws {
        guard !options.outputs.isEmpty else { return }
        log("Upload Start")
        let contents = (try? FileSystem.contents(of: options.outputPath)) ?? []
        if contents.isEmpty {
            log("No Files in Output Folder")
            return
        }
        for output in options.outputs {
            let credentials = try credentials(user: output.kind == .url)
            log("Uploading \(output.name)")
            let uploader = Uploader(credentials: credentials)
            let reporter = ProgressReporter(uploader.progress, live: false, label: output.name) { [self] line in log(line, .upload) }
            defer { reporter.stop() }
            do {
                // The reference uploads `<outputPath>*`: the folder's contents, keeping its tree.
                let record: TransferRecord
                if output.kind == .kpi {
                    let file = Path.join(options.outputPath, output.path)
                    guard FileSystem.exists(file) else {
                        log("KPI file: \(file) does not exist")
                        continue
                    }
                    record = try uploader.upload([try Uploader.confinedFile(output.path, in: options.outputPath)], to: output.url)
                } else {
                    record = try uploader.upload([Path.join(options.outputPath, "*")], to: output.url, regex: output.regex.isEmpty ? nil : output.regex)
                }
                for warning in record.warnings { log(warning, .upload) }
                reporter.stop()
                log("Uploaded \(output.name)")
                log("Moved \(record.summary)", .upload)
                records.withLock { $0.append((record, true)) }
            } catch let error as OsmoError {
                throw Failure(code: ExitCode.forTransfer(error.code, upload: true, cli: false), message: "Upload to \(output.url) failed: \(error)")
            }
        }
        log("All Outputs Uploaded")
    }

    /// A one-level listing of what landed (ours, not the `tree` binary): at most 20 entries.
    static func listing(_ directory: String, label: String) -> [String] {
        let names = ((try? FileSystem.contents(of: directory)) ?? []).filter { !$0.hasPrefix(".osmo-") }.sorted()
        var lines = [label + "/"]
        for (index, name) in names.prefix(20).enumerated() {
            let last = index == min(names.count, 20) - 1 && names.count <= 20
            let suffix = FileSystem.isDirectory(Path.join(directory, name)) ? "/" : ""
            lines.append("\(last ? "└──" : "├──") \(name)\(suffix)")
        }
        if names.count > 20 { lines.append("└── … and \(names.count - 20) more") }
        return lines
    }
}
