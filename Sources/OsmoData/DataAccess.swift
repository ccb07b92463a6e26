import Glibc
import OsmoCore
import OsmoSystem
import OsmoTransfer

/// `osmo data check`: can these credentials read (list), write (put and delete a probe
/// object) or delete (delete a probe key that does not exist: 2xx or 404 is allowed, nothing is
/// written) at a URL? Used by ctrl before anything starts (exit codes 13/14), with READ and WRITE.
public enum DataAccess {
    public enum Kind: String, Sendable, CaseIterable { case read = "READ", write = "WRITE", delete = "DELETE" }

    public static func check(_ text: String, _ kind: Kind, credentials: DataCredentials) throws {
        let url = try DataURL(text)
        switch url.scheme {
        case .file:
            let path: String = switch kind {
            case .read: url.key
            case .write: FileSystem.exists(url.key) ? url.key : Path.parent(url.key)
            // Unlinking needs the directory that holds the entries.
            case .delete: FileSystem.isDirectory(url.key) ? url.key : Path.parent(url.key)
            }
            guard FileSystem.exists(path) else { throw OsmoError(.notFound, "\(url.key): no such file or directory") }
            guard access(path, kind == .read ? R_OK : W_OK) == 0 else {
                throw OsmoError(.unauthorized, "\(path): \(kind == .read ? "not readable" : "not writable")")
            }
        case .http, .https:
            if kind == .read {
                let engine = try TransferEngine.shared()
                _ = try engine.perform(HTTPRequest(url: url.text, method: "HEAD"))
            }
        default:
            let engine = try TransferEngine.shared()
            let store = try ObjectStores.open(url, credentials: credentials)
            switch kind {
            case .read:
                _ = try store.list(engine)
            case .write:
                let probe = (url.key.isEmpty || url.key.hasSuffix("/") ? url.key : url.key + "/") + ".osmo-write-check-\(getpid())"
                _ = try store.put(probe, size: 0, engine: engine) { _, _ in [] }
                _ = try? engine.perform(store.delete(probe))
            case .delete:
                let probe = (url.key.isEmpty || url.key.hasSuffix("/") ? url.key : url.key + "/") + ".osmo-delete-check-\(getpid())"
                var request = store.delete(probe)
                request.acceptAnyStatus = true
                let response = try engine.perform(request)
                let code = XMLText.first("Code", in: response.bodyText)
                switch response.status {
                case 200..<300: break
                // The probe does not exist: allowed to ask, so allowed to delete (not a missing bucket).
                case 404 where code != "NoSuchBucket" && code != "ContainerNotFound": break
                case 401, 403: throw OsmoError(.unauthorized, "DELETE \(store.label(probe)): HTTP \(response.status)\(code.map { ": \($0)" } ?? "")")
                case 404: throw OsmoError(.notFound, "DELETE \(store.label(probe)): HTTP 404: \(code ?? "not found")")
                default: throw OsmoError(.io, "DELETE \(store.label(probe)): HTTP \(response.status)\(code.map { ": \($0)" } ?? "")")
                }
            }
        }
    }
}
