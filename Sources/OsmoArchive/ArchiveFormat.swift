/// What a stream holds, judged from its first bytes (and, for compressed streams that could
/// be anything, its name): content decides, names only disambiguate.
public enum ArchiveFormat: Equatable, Sendable {
    /// tar, possibly compressed: extract while it streams.
    case tar
    /// zip: needs random access, so spool to disk, then extract.
    case zip
    /// Not an archive we extract: keep the file as it is.
    case none

    /// Bytes needed for a decision.
    public static let sniffLength = 512

    public static func detect(prefix: [UInt8], name: String) -> ArchiveFormat {
        let lower = name.lowercased()
        if prefix.count >= 262, Array(prefix[257..<262]) == Array("ustar".utf8) { return .tar }
        if prefix.starts(with: [0x50, 0x4B, 0x03, 0x04]) || prefix.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            return lower.hasSuffix(".zip") ? .zip : .none
        }
        let compressed = prefix.starts(with: [0x1F, 0x8B]) || prefix.starts(with: [0x28, 0xB5, 0x2F, 0xFD])
            || prefix.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) || prefix.starts(with: Array("BZh".utf8))
            || prefix.starts(with: [0x04, 0x22, 0x4D, 0x18])
        if compressed && tarSuffixes.contains(where: { lower.hasSuffix($0) }) { return .tar }
        return .none
    }

    /// Names that say "compressed tar"; a plain `x.gz` stays a file.
    public static let tarSuffixes = [
        ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.zstd", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tbz",
        ".tar.lz4", ".tar",
    ]
}
