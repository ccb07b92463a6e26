import OsmoArchive
import OsmoCore
import OsmoSystem

/// An archive's entries reach their destination only whole: they are extracted into a hidden
/// staging directory beside it (`.osmo-extract-<name>`), and only a complete, safe extraction has
/// its top-level entries moved into place. A staging directory left by a crash marks the archive
/// for a redo; every path removes it.
enum StagedExtraction {
    static func stagingPath(in directory: String, for name: String) -> String {
        Path.join(directory, ".osmo-extract-\(name)")
    }

    /// Extracts `name` into `directory` with `extract`, which receives the staging directory.
    static func run(into directory: String, name: String, _ extract: (_ staging: String) throws -> ArchiveExtractor.Report) throws -> ArchiveExtractor.Report {
        let staging = stagingPath(in: directory, for: name)
        do {
            try FileSystem.removeTree(staging)
            try FileSystem.makeDirectory(staging, mode: 0o755)
            let report = try extract(staging)
            for entry in try FileSystem.contents(of: staging) {
                try FileSystem.moveReplacing(Path.join(staging, entry), to: Path.join(directory, entry))
            }
            try FileSystem.removeTree(staging)
            return report
        } catch {
            try? FileSystem.removeTree(staging)
            throw error
        }
    }
}
