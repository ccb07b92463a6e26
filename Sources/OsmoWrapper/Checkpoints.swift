import OsmoCore
import OsmoData
import OsmoSystem

/// `-checkpoint path;url;freqSeconds;regex`: while the command runs, the contents of `path` are
/// uploaded to `url` every `freqSeconds`, and once more after it ends. A failed upload is
/// reported in the task log and tried again next period: a checkpoint never fails the task.
final class Checkpoints: Sendable {
    struct Spec: Sendable, Equatable {
        var path: String
        var url: String
        var seconds: Double
        var regex: String?

        init(parsing text: String) throws {
            let parts = text.split(separator: ";", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 3, !parts[0].isEmpty, !parts[1].isEmpty, let seconds = Double(parts[2]), seconds > 0 else {
                throw OsmoError(.invalidInput, "invalid -checkpoint '\(text)': expected path;url;freqSeconds;regex")
            }
            path = parts[0]
            url = parts[1]
            self.seconds = seconds
            regex = parts.count > 3 && !parts[3].isEmpty ? parts[3] : nil
        }
    }

    let specs: [Spec]
    private let report: @Sendable (String) -> Void
    private let state = ConditionLock((stopped: false, running: 0))

    init(specs: [Spec], report: @escaping @Sendable (String) -> Void) {
        self.specs = specs
        self.report = report
    }

    /// Starts one periodic uploader per spec.
    func start() {
        for spec in specs {
            state.withLock { $0.running += 1 }
            ThreadStarter.detach { [self] in
                var round = 0
                while state.wait(timeout: spec.seconds, until: { $0.stopped ? true : nil }) == nil {
                    round += 1
                    upload(spec, label: "checkpoint \(round)")
                }
                state.withLock { $0.running -= 1 }
            }
        }
    }

    /// Stops the periodic uploads (waiting for one in flight), then uploads each path once more.
    func finish() {
        state.withLock { $0.stopped = true }
        _ = state.wait { $0.running == 0 ? true : nil }
        for spec in specs { upload(spec, label: "final checkpoint") }
    }

    /// The reference's lines (`data.go`): `Checkpointing data from P to U...` before each upload,
    /// `… finished` after the final one; ours say what moved or why nothing did.
    private func upload(_ spec: Spec, label: String) {
        let final = label.hasPrefix("final")
        report("Checkpointing data from \(spec.path) to \(spec.url)...")
        defer { if final { report("Checkpointing data from \(spec.path) to \(spec.url) finished") } }
        guard FileSystem.exists(spec.path) else {
            report("\(label): \(spec.path) does not exist yet; nothing to upload to \(spec.url)")
            return
        }
        do {
            let uploader = Uploader(credentials: try DataCredentials.load(configFiles: DataCredentials.defaultConfigFiles()))
            let record = try uploader.upload([spec.path], to: spec.url, regex: spec.regex)
            report("\(label): uploaded \(record.files) files (\(TransferProgress.size(record.bytes))) from \(spec.path) to \(spec.url)")
        } catch {
            let next = final ? "" : " and the next period tries again"
            report("\(label) of \(spec.path) to \(spec.url) failed: \(error); the task continues\(next)")
        }
    }
}
