import COsmoCurl
import OsmoCore
import OsmoSystem
import Synchronization

/// libcurl, opened on first use.
///
/// The binary has no link-time dependency on libcurl: the user container's PID 1 must start even
/// where no libcurl exists. The bundle's copy is looked for beside the executable (`../lib`,
/// `./lib`), in `$OSMO_LIB_DIR`, in the runtime image's `/osmo/lib` and the user container's
/// `/osmo/usr/bin/lib`, and finally as the system's `libcurl.so.4`.
public enum CurlLibrary {
    public static let sonames = ["libcurl.so.4"]
    private static let state = Mutex<Result<String, OsmoError>?>(nil)

    /// Loads libcurl once; returns where it came from or throws why it could not be loaded.
    @discardableResult
    public static func load(extraDirectories: [String] = []) throws -> String {
        try state.withLock { cached in
            if let cached { return try cached.get() }
            var tried: [String] = []
            let directories = extraDirectories + BundleLayout.libraryDirectories(forExecutable: ExecutableLocation.current())
            var candidates: [String?] = []
            for dir in directories {
                for name in sonames where FileSystem.exists(Path.join(dir, name)) {
                    candidates.append(Path.join(dir, name))
                }
            }
            candidates.append(nil)
            for candidate in candidates {
                var error = [CChar](repeating: 0, count: 512)
                if osmo_curl_load(candidate, &error, error.count) == 0 {
                    let origin = candidate ?? "system libcurl.so.4"
                    cached = .success(origin)
                    return origin
                }
                tried.append("\(candidate ?? "libcurl.so.4"): \(String(decoding: error.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))")
            }
            let failure = OsmoError(.unsupported, "libcurl is not available (\(tried.joined(separator: "; ")))")
            cached = .failure(failure)
            throw failure
        }
    }

    /// Where libcurl was loaded from, once it was.
    public static var origin: String? {
        state.withLock { cached in
            if case .success(let origin)? = cached { return origin }
            return nil
        }
    }

    /// libcurl's version string (`libcurl/7.88.1 OpenSSL/3.0 …`), loading it if needed.
    public static func version() throws -> String {
        try load()
        return String(cString: osmo_curl_version())
    }
}
