import OsmoCore

/// Which inputs have their archives extracted. Extraction is the platform's documented
/// behaviour and stays the default; tasks that untar their own inputs keep them as files with
/// `-keepArchives` on ctrl or `OSMO_KEEP_ARCHIVES` in the pod template (the flag wins): `all`,
/// or the input folders to keep as they are (`0,2`).
public enum ArchivePolicy: Sendable, Equatable {
    case extractAll
    case keepAll
    case keep(Set<String>)

    public init(parsing text: String) throws {
        let trimmed = text.trimmingSpaces()
        switch trimmed.lowercased() {
        case "", "none": self = .extractAll
        case "all": self = .keepAll
        default:
            let folders = trimmed.split(separator: ",").map { String($0).trimmingSpaces() }
            guard !folders.isEmpty, folders.allSatisfy({ !$0.isEmpty && !$0.contains("/") }) else {
                throw OsmoError(.invalidInput, "invalid archive policy '\(text)': expected all, none, or input folders such as 0,2")
            }
            self = .keep(Set(folders))
        }
    }

    public func extracts(folder: String) -> Bool {
        switch self {
        case .extractAll: true
        case .keepAll: false
        case .keep(let folders): !folders.contains(folder)
        }
    }
}
