import Glibc
import OsmoCore
import OsmoData
import OsmoSystem
import OsmoTransfer

extension Controller {
    /// The file must exist: a missing, unreadable or malformed one fails the first check or
    /// transfer that needs a credential from it (exit 30), naming it and the flag.
    func credentials(user: Bool) throws -> DataCredentials {
        DataCredentials.load(required: [user ? options.userConfig : options.serviceConfig], flag: user ? "-userConfig" : "-serviceConfig")
    }

    /// READ access for the user's `url:` inputs, WRITE for `url:` outputs, before anything moves
    /// (the reference's lines, `input_output.go`, also when there is nothing to check).
    func checkAccess() throws {
        log("Validating data access permissions...")
        var checks: [(String, DataAccess.Kind)] = options.inputs.filter(\.userCredentials).map { ($0.url, .read) }
        checks += options.outputs.filter { $0.kind == .url }.map { ($0.url, .write) }
        let credentials = checks.isEmpty ? nil : try credentials(user: true)
        for (url, kind) in checks {
            log("Validating \(kind.rawValue) access for URI \(kind == .read ? "input" : "output"): \(url)")
            do { try DataAccess.check(url, kind, credentials: credentials!) } catch let error as OsmoError {
                log("Data auth validation failed for \(url): \(error)")
                let code: ExitCode = error.code == .unauthorized ? .dataUnauthorized : error.code == .invalidInput ? .invalidInput : .dataAuthCheckFailed
                throw Failure(code: code, message: "Data unauthorized: \(kind.rawValue) access to \(url): \(error)")
            }
            log("Data auth validation successful for \(url)")
        }
        log("All data access validations passed")
    }

    /// All inputs at once (each into `<inputPath>/<folder>/`), with progress lines; SIGTERM stops
    /// the wait.
    func downloadInputs() throws {
        // The transfer phases' lines are DOWNLOAD / UPLOAD, as the reference's: the service
        // counts those (not OSMO_CTRL) as the task's heartbeat.
        log("Downloading Start", .download)
        guard !options.inputs.isEmpty else {
            log("All Inputs Gathered", .download)
            return
        }
        let userCredentials = options.inputs.contains(where: \.userCredentials) ? try credentials(user: true) : nil
        let taskCredentials = options.inputs.contains { !$0.userCredentials } ? try credentials(user: false) : nil
        let state = ConditionLock((left: options.inputs.count, failures: [(InputSpec, OsmoError)]()))
        for input in options.inputs {
            log("Downloading \(input.logName)", .download)
            let downloader = Downloader(credentials: (input.userCredentials ? userCredentials : taskCredentials)!)
            let destination = Path.join(options.inputPath, input.folder)
            ThreadStarter.detach { [self] in
                let reporter = ProgressReporter(downloader.progress, live: false, label: input.name) { [self] line in
                    log(line, .download)
                }
                do {
                    let record = try downloader.download(input.url, into: destination, options: DownloadOptions(regex: input.regex.isEmpty ? nil : input.regex, extract: options.archives.extracts(folder: input.folder)))
                    reporter.stop()
                    if record.bytes > 0 { service?.transferMetric(record, output: false) }
                    log("Downloaded \(input.logName) to {{input:\(input.folder)}}", .download)
                    log(Controller.tree(destination), .download)
                    note("Moved \(record.summary)", .download)
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
            let all = failures.map { "\($0.0.logName): \($0.1)" }.joined(separator: "; ")
            throw Failure(code: code, message: "Download of \(failures.count == 1 ? input.logName : "\(failures.count) inputs") failed: \(all)", kind: .download)
        }
        log("All Inputs Gathered", .download)
    }

    /// Every output spec, in order; runs after the command whatever its outcome.
    func uploadOutputs() throws {
        log("Upload Start", .upload)
        let contents = (try? FileSystem.contents(of: options.outputPath)) ?? []
        if contents.isEmpty {
            log("No Files in Output Folder", .upload)
            return
        }
        for output in options.outputs {
            let credentials = try credentials(user: output.kind == .url)
            log("Uploading \(output.logName)", .upload)
            let uploader = Uploader(credentials: credentials)
            let reporter = ProgressReporter(uploader.progress, live: false, label: output.name) { [self] line in log(line, .upload) }
            defer { reporter.stop() }
            do {
                // The reference uploads `<outputPath>*`: the folder's contents, keeping its tree.
                let record: TransferRecord
                if output.kind == .kpi {
                    let file = Path.join(options.outputPath, output.path)
                    guard FileSystem.exists(file) else {
                        log("KPI file: \(file) does not exist", .upload)
                        continue
                    }
                    record = try uploader.upload([try Uploader.confinedFile(output.path, in: options.outputPath)], to: output.url)
                } else {
                    record = try uploader.upload([Path.join(options.outputPath, "*")], to: output.url, regex: output.regex.isEmpty ? nil : output.regex)
                }
                for warning in record.warnings { log(warning, .upload) }
                reporter.stop()
                if record.bytes > 0 {
                    var metric = record
                    if output.kind == .kpi { metric.url = Path.join(output.url, output.path) }
                    service?.transferMetric(metric, output: true)
                }
                log("Uploaded \(output.logName)", .upload)
                note("Moved \(record.summary)", .upload)
            } catch let error as OsmoError {
                throw Failure(code: ExitCode.forTransfer(error.code, upload: true, cli: false), message: "Upload to \(output.url) failed: \(error)", kind: .upload)
            }
        }
        log("All Outputs Uploaded", .upload)
    }

    /// What `tree -n -L 1 DIR` (tree 2.x, which the reference runs after each input) prints, as
    /// one text: the first 20 lines and the summary line when there are more. Hidden names are
    /// left out; a symlink shows its target; the root counts as a directory once it holds
    /// anything, as tree 2 counts it.
    static func tree(_ directory: String) -> String {
        let names = ((try? FileSystem.contents(of: directory)) ?? []).filter { !$0.hasPrefix(".") }
            .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var lines = [directory]
        var directories = 0
        for (index, name) in names.enumerated() {
            let path = Path.join(directory, name)
            let branch = index == names.count - 1 ? "└── " : "├── "
            if FileSystem.isDirectory(path) { directories += 1 }
            if let target = FileSystem.readLink(path) {
                lines.append(branch + name + " -> " + target)
            } else {
                lines.append(branch + name)
            }
        }
        if !names.isEmpty { directories += 1 }
        let files = names.count - (names.isEmpty ? 0 : directories - 1)
        lines.append("")
        lines.append("\(directories) director\(directories == 1 ? "y" : "ies"), \(files) file\(files == 1 ? "" : "s")")
        guard lines.count > 20 else { return lines.joined(separator: "\n") }
        return (lines.prefix(20) + [lines.last!]).joined(separator: "\n")
    }
}
