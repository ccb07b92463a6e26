import Glibc
import OsmoCore
import OsmoSystem
import OsmoTransfer

/// `osmo data delete URL [-x REGEX]`: every object under the URL's key, as the reference's
/// `Client.delete_objects`: the key itself if it names one object, else everything under
/// `key/` (recursive; an empty key is the whole bucket), the regex anchored at the start of the
/// path relative to that prefix. No prompt. Per-object failures are collected, not thrown.
///
/// `file://`: files and symlinks (never their targets) are unlinked beneath the directory by
/// descriptor, then the subdirectories the deletion emptied are removed; the named directory
/// itself stays.
public enum DataDeletion {
    public struct Summary: Sendable {
        public var successCount = 0
        public var failures: [OsmoError] = []
        /// Nothing matched: the reference's warning, for the log.
        public var warning: String?
    }

    public static func delete(_ text: String, regex: String?, credentials: DataCredentials) throws -> Summary {
        let url = try DataURL(text)
        let key = DataListing.path(of: url)
        if url.scheme == .file { return try deleteLocal(key, filter: try PathFilter(regex)) }
        let entries = try DataListing.entries(url, key: key, regex: regex, recursive: true, credentials: credentials)
        var summary = Summary()
        if entries.isEmpty {
            summary.warning = regex.map { "No entries matched regex \($0)" } ?? "No entries found for prefix: \(key)"
            return summary
        }
        let engine = try TransferEngine.shared()
        let store = try ObjectStores.open(url, credentials: credentials)
        let outcome = ConditionLock((left: entries.count, done: 0, failures: [OsmoError]()))
        for entry in entries {
            engine.submit(store.delete(entry.key)) { result in
                outcome.withLock { state in
                    state.left -= 1
                    switch result {
                    case .success: state.done += 1
                    case .failure(let error): state.failures.append(error)
                    }
                }
            }
        }
        let final = outcome.wait { $0.left == 0 ? $0 : nil }!
        summary.successCount = final.done
        summary.failures = final.failures
        return summary
    }

    static func deleteLocal(_ path: String, filter: PathFilter) throws -> Summary {
        var summary = Summary()
        if !path.hasSuffix("/") {
            var st = stat()
            if lstat(path, &st) == 0, st.st_mode & S_IFMT != S_IFDIR {
                if unlink(path) == 0 { summary.successCount = 1 } else {
                    summary.failures.append(FileSystem.removeFailure(path, errno: errno))
                }
                return summary
            }
        }
        let base = path.hasSuffix("/") ? path : path + "/"
        guard FileSystem.isDirectory(base) else {
            summary.warning = filter.pattern.map { "No entries matched regex \($0)" } ?? "No entries found for prefix: \(path)"
            return summary
        }
        let root = try ConfinedDirectory(base)
        let entries = try filter.select(try FileSystem.walk(base)) { $0.relativePath }
        if entries.isEmpty {
            summary.warning = filter.pattern.map { "No entries matched regex \($0)" } ?? "No entries found for prefix: \(path)"
            return summary
        }
        var emptied = Set<String>()
        for entry in entries {
            do {
                let (parent, name) = try root.parent(of: entry.relativePath, create: false, symlinks: .refuse)
                defer { close(parent) }
                guard unlinkat(parent, name, 0) == 0 else {
                    summary.failures.append(FileSystem.removeFailure(Path.join(root.path, entry.relativePath), errno: errno))
                    continue
                }
                summary.successCount += 1
                var directory = Path.parent(entry.relativePath)
                while directory != "." && !directory.isEmpty && emptied.insert(directory).inserted {
                    directory = Path.parent(directory)
                }
            } catch {
                summary.failures.append(error as? OsmoError ?? OsmoError(.io, "\(error)"))
            }
        }
        // Deepest first; a directory still holding something (unmatched files) stays.
        for directory in emptied.sorted(by: { $0.split(separator: "/").count > $1.split(separator: "/").count }) {
            guard let (parent, name) = try? root.parent(of: directory, create: false, symlinks: .refuse) else { continue }
            unlinkat(parent, name, AT_REMOVEDIR)
            close(parent)
        }
        return summary
    }
}

extension FileSystem {
    /// An unlink that failed, saying what to check.
    static func removeFailure(_ path: String, errno err: Int32) -> OsmoError {
        let hint = err == EACCES || err == EPERM ? " (the directory holding it must be writable by this user)" : ""
        let code: OsmoError.Code = err == EACCES || err == EPERM ? .unauthorized : .io
        return OsmoError(code, "cannot delete \(path): \(SystemCall.describe(errno: err))\(hint)", cause: Errno(err))
    }
}
