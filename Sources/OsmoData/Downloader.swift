import Glibc
import OsmoArchive
import OsmoCore
import OsmoSystem
import OsmoTransfer

public struct DownloadOptions: Sendable {
    /// Anchored at the start, matched against the path relative to the prefix or directory.
    public var regex: String?
    /// Extract archives (detected by content) instead of saving them.
    public var extract: Bool
    /// Continue `.osmo-part` files of an earlier run; skip files already complete.
    public var resume: Bool

    public init(regex: String? = nil, extract: Bool = true, resume: Bool = true) {
        self.regex = regex
        self.extract = extract
        self.resume = resume
    }
}

/// What one transfer moved, for logs and `task_io_metrics`.
public struct TransferRecord: Sendable {
    public var url: String
    public var bytes: Int64 = 0
    public var files = 0
    /// Files that were already complete from an earlier run.
    public var skipped = 0
    /// What was left out on purpose (an output symlink leading outside), for the log.
    public var warnings: [String] = []
    /// Wall-clock seconds since the epoch.
    public var start: Double
    public var end: Double = 0

    public init(url: String, start: Double) {
        self.url = url
        self.start = start
    }

    /// `3 files, 1.2MiB in 0.25 s`.
    public var summary: String {
        "\(files) files, \(TransferProgress.size(bytes)) in \(elapsedText)"
    }

    /// `end - start` for log lines, to the hundredth: `1.25 s`.
    public var elapsedText: String {
        "\(Double(Int(max(end - start, 0) * 100)) / 100) s"
    }
}

/// Downloads everything under a data URL into a directory: lists, filters, then hands every
/// object to the transfer engine at once (it bounds the concurrency) with a sink that resumes,
/// verifies and extracts.
public final class Downloader: Sendable {
    public let credentials: DataCredentials
    public let progress: TransferProgress

    public init(credentials: DataCredentials, progress: TransferProgress = TransferProgress()) {
        self.credentials = credentials
        self.progress = progress
    }

    public func download(_ text: String, into directory: String, options: DownloadOptions = DownloadOptions()) throws -> TransferRecord {
        let url = try DataURL(text)
        let filter = try PathFilter(options.regex)
        let root = try ConfinedDirectory(directory, create: true)
        var record = TransferRecord(url: text, start: Clock.epochSeconds)
        if url.scheme == .file {
            try LocalCopy(progress: progress).download(from: url.key, into: root, filter: filter, options: options, record: &record)
            record.end = Clock.epochSeconds
            return record
        }
        let engine = try TransferEngine.shared()
        let store = try ObjectStores.open(url, credentials: credentials)
        let objects = try filter.select(try store.list(engine)) { $0.relativePath }
        if objects.isEmpty && url.isObjectStore {
            throw OsmoError(.notFound, "\(url): no objects found\(options.regex.map { " matching '\($0)'" } ?? "")")
        }
        progress.expect(bytes: objects.reduce(0) { $0 + ($1.size ?? 0) }, files: objects.count)

        let outcome = ConditionLock((left: objects.count, bytes: Int64(0), files: 0, errors: [OsmoError]()))
        for object in objects {
            guard let relative = PathFilter.safeRelative(object.relativePath) else {
                outcome.withLock { $0.left -= 1; $0.errors.append(OsmoError(.invalidInput, "\(store.label(object.key)): refusing an object whose name escapes the destination")) }
                continue
            }
            if options.resume, let size = Self.completeFile(root, relative, object: object) {
                progress.add(bytes: size, files: 1)
                outcome.withLock { $0.left -= 1; $0.files += 1; $0.bytes += size }
                record.skipped += 1
                continue
            }
            let job = DownloadJob(url: store.label(object.key), root: root, relative: relative, object: object, options: options, progress: progress) { result in
                outcome.withLock { state in
                    state.left -= 1
                    switch result {
                    case .success(let moved): state.bytes += moved.bytes; state.files += moved.files
                    case .failure(let error): state.errors.append(error)
                    }
                }
            }
            do {
                let sink = try ArchiveSink(job: job, engine: engine)
                var request = store.get(object.key, sink: sink)
                request.largeBody = (object.size ?? Int64.max) > 4 << 20
                engine.submit(request) { result in
                    if case .failure(let error) = result { job.fail(error) }
                }
            } catch {
                job.fail(error as? OsmoError ?? OsmoError(.io, "\(error)"))
            }
        }
        let final = outcome.wait { $0.left == 0 ? $0 : nil }!
        record.bytes = final.bytes
        record.files = final.files
        record.end = Clock.epochSeconds
        if !final.errors.isEmpty { throw Downloader.combine(final.errors, total: objects.count, verb: "download") }
        return record
    }

    /// The size of `relative` if an earlier run left it complete: a regular file (reached
    /// beneath the root, not through a symlink) of the object's size and version.
    static func completeFile(_ root: ConfinedDirectory, _ relative: String, object: RemoteObject) -> Int64? {
        let fd = root.rawOpen(relative, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK, symlinks: .followInside)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, Int64(st.st_size) == object.size ?? -1 else { return nil }
        if let etag = object.etag, let seen = FileSystem.attribute(descriptor: fd, name: "osmo.etag"), seen != etag { return nil }
        return Int64(st.st_size)
    }

    /// One error for many: the first few messages, and how many failed.
    static func combine(_ errors: [OsmoError], total: Int, verb: String) -> OsmoError {
        if errors.count == 1 { return errors[0] }
        let shown = errors.prefix(5).map(\.description).joined(separator: "; ")
        let more = errors.count > 5 ? "; …" : ""
        return OsmoError(errors[0].code, "\(errors.count) of \(total) files failed to \(verb): \(shown)\(more)")
    }
}

/// The `--regex` rule: anchored at the start of the relative path.
struct PathFilter: @unchecked Sendable {
    private let regex: Regex<AnyRegexOutput>?
    let pattern: String?

    init(_ pattern: String?) throws {
        self.pattern = pattern
        guard let pattern, !pattern.isEmpty else { regex = nil; return }
        do { regex = try Regex(pattern) } catch {
            throw OsmoError(.invalidInput, "invalid regex '\(pattern)': \(error)")
        }
    }

    func matches(_ path: String) -> Bool {
        guard let regex else { return true }
        return (try? regex.prefixMatch(in: path)) != nil
    }

    /// The items whose path matches, computed under a time budget: a pattern that backtracks
    /// catastrophically (`(a+)+b`) fails with a clear message instead of running unbounded.
    /// Budget: `OSMO_REGEX_SECONDS` (default 20) plus 50 µs per path.
    func select<T: Sendable>(_ items: [T], path: @escaping @Sendable (T) -> String) throws -> [T] {
        guard regex != nil, !items.isEmpty else { return items }
        let result = ConditionLock<[T]?>(nil)
        let filter = self
        ThreadStarter.detach {
            let kept = items.filter { filter.matches(path($0)) }
            result.withLock { $0 = kept }
        }
        let base = getenv("OSMO_REGEX_SECONDS").flatMap { Double(String(cString: $0)) } ?? 20
        let budget = base + Double(items.count) * 0.000_05
        guard let kept = result.wait(timeout: budget, until: { $0 }) else {
            throw OsmoError(.invalidInput, "regex '\(pattern ?? "")' did not finish matching \(items.count) paths in \(Int(budget)) s: it backtracks catastrophically (nested quantifiers such as (a+)+); simplify it")
        }
        return kept
    }

    /// `path` normalised, or nil if it is absolute or climbs out with `..`.
    static func safeRelative(_ path: String) -> String? {
        if path.hasPrefix("/") { return nil }
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." { return nil }
            parts.append(part)
        }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }
}
