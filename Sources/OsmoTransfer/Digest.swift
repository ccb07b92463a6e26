import COsmoCurl

/// MD5 / SHA-256 through the libcrypto libcurl already loaded. `nil` from `init` means no
/// OpenSSL is available (then checksums are skipped, never faked).
public final class Digest: @unchecked Sendable {
    public enum Kind: Int32, Sendable { case md5 = 0, sha256 = 1 }
    private var context: OpaquePointer?

    public init?(_ kind: Kind) {
        guard (try? CurlLibrary.load()) != nil, let context = osmo_digest_new(kind.rawValue) else { return nil }
        self.context = context
    }

    deinit {
        if let context { osmo_digest_free(context) }
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let context, let base = bytes.baseAddress, bytes.count > 0 else { return }
        osmo_digest_update(context, base, bytes.count)
    }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest bytes; the object cannot be used afterwards.
    public func finish() -> [UInt8] {
        guard let context else { return [] }
        self.context = nil
        var out = [UInt8](repeating: 0, count: 32)
        let length = osmo_digest_final(context, &out)
        return Array(out.prefix(Int(length)))
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Hex SHA-256 of `bytes`, or nil without OpenSSL.
    public static func sha256Hex(_ bytes: [UInt8]) -> String? {
        guard let digest = Digest(.sha256) else { return nil }
        digest.update(bytes)
        return hex(digest.finish())
    }

    public static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
}
