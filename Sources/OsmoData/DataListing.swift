import OsmoCore
import OsmoSystem
import OsmoTransfer

/// `osmo data list`: what a URL holds, relative to it.
public enum DataListing {
    public static func list(_ text: String, regex: String?, credentials: DataCredentials) throws -> [RemoteObject] {
        let url = try DataURL(text)
        let filter = try PathFilter(regex)
        if url.scheme == .file {
            return try filter.select(try FileSystem.walk(url.key)) { $0.relativePath }.map {
                RemoteObject(key: $0.relativePath, relativePath: $0.relativePath, size: $0.size)
            }
        }
        let store = try ObjectStores.open(url, credentials: credentials)
        return try filter.select(try store.list(try TransferEngine.shared())) { $0.relativePath }
    }
}
