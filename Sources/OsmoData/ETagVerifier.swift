import OsmoTransfer

/// Checks a download against an object store's ETag when the ETag is an MD5 we can recompute:
/// a plain 32-hex MD5 (single-part upload), or the platform's multipart form `md5(md5(part)…)-N`
/// with 8 MiB parts. Any other ETag (nginx, Azure, other part sizes) is not a checksum and is
/// left unverified rather than guessed at.
final class ETagVerifier: @unchecked Sendable {
    static let partSize: Int64 = 8 << 20
    let expected: String
    private let parts: Int?
    private var whole: Digest?
    private var part: Digest?
    private var partDigests: [UInt8] = []
    private var inPart: Int64 = 0

    /// nil when `etag` is not a recomputable MD5 for an object of `size` bytes.
    init?(etag: String?, size: Int64?) {
        guard let etag = etag?.lowercased() else { return nil }
        let pieces = etag.split(separator: "-")
        guard let hash = pieces.first, hash.count == 32, hash.allSatisfy(\.isHexDigit) else { return nil }
        if pieces.count == 1 {
            parts = nil
            guard let digest = Digest(.md5) else { return nil }
            whole = digest
        } else {
            guard pieces.count == 2, let count = Int(pieces[1]), let size, count > 0,
                  Int64(count) == max(1, (size + ETagVerifier.partSize - 1) / ETagVerifier.partSize),
                  let digest = Digest(.md5) else { return nil }
            parts = count
            part = digest
        }
        expected = etag
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        if let whole { whole.update(bytes); return }
        var rest = bytes[...]
        while !rest.isEmpty {
            let take = min(Int(ETagVerifier.partSize - inPart), rest.count)
            part?.update(UnsafeRawBufferPointer(rebasing: rest.prefix(take)))
            inPart += Int64(take)
            rest = rest.dropFirst(take)
            if inPart == ETagVerifier.partSize { closePart() }
        }
    }

    private func closePart() {
        if let part { partDigests += part.finish() }
        part = Digest(.md5)
        inPart = 0
    }

    /// The recomputed ETag.
    func finish() -> String {
        if let whole { return Digest.hex(whole.finish()) }
        if inPart > 0 { closePart() }
        let combined = Digest(.md5)!
        combined.update(partDigests)
        return "\(Digest.hex(combined.finish()))-\(partDigests.count / 16)"
    }
}
