/// Decides whether an archive entry may be written, by its names alone, before libarchive
/// touches the disk: nothing may land or point outside the destination.
///
/// libarchive's own `SECURE_*` flags stay on as a second line (they also refuse writing through
/// a symlink that an earlier entry planted); this check gives each refusal a precise reason.
enum EntryGuard {
    /// The entry's path made relative and normalised (`./a//b` → `a/b`), or why it is refused.
    static func relativePath(_ name: String) -> Result<String, Refusal> {
        if name.hasPrefix("/") { return .failure(.absolute) }
        var parts: [Substring] = []
        for part in name.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { return .failure(.parentReference) }
            parts.append(part)
        }
        return .success(parts.joined(separator: "/"))
    }

    /// A symlink at `path` (relative to the root) with `target` must resolve inside the root.
    static func symlinkStaysInside(path: String, target: String) -> Bool {
        if target.hasPrefix("/") { return false }
        var depth = path.split(separator: "/").count - 1
        for part in target.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            depth += part == ".." ? -1 : 1
            if depth < 0 { return false }
        }
        return true
    }

    enum Refusal: Error, CustomStringConvertible {
        case absolute, parentReference, symlinkEscapes(String), hardlinkEscapes(String), device, throughSymlink, writeFailed(String)

        var description: String {
            switch self {
            case .absolute: "absolute path"
            case .parentReference: "path contains '..'"
            case .symlinkEscapes(let target): "symlink points outside the destination (\(target))"
            case .hardlinkEscapes(let target): "hardlink points outside the destination (\(target))"
            case .device: "device node"
            case .throughSymlink: "path goes through a symlink"
            case .writeFailed(let reason): reason
            }
        }
    }
}
