import Glibc
import OsmoCore
import OsmoSystem
import OsmoTransfer

/// `osmo data check`: can these credentials read (list) or write (put and delete a probe
/// object) at a URL? Used by ctrl before anything starts (exit codes 13/14).
public enum DataAccess {
    public enum Kind: String, Sendable { case read = "READ", write = "WRITE" }

    public static func check(_ text: String, _ kind: Kind, credentials: DataCredentials) throws {
        let url = try DataURL(text)
        switch url.scheme {
        case .file:
            let path = kind == .read || FileSystem.exists(url.key) ? url.key : Path.parent(url.key)
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
            }
        }
    }
}
