import Glibc
import OsmoCore
import OsmoSystem
import OsmoTransfer

/// `osmo data upload URL FILE` with one regular file and a URL that does not end in `/`: the
/// object is named exactly by the URL, as `aws s3 cp FILE s3://b/key` does (issue 10 §6). The
/// reference CLI would write `URL/basename(FILE)`; a URL ending in `/`, a bucket or container
/// alone, several paths or a directory keep that rule (`Uploader.collect`).
///
/// `file://`: the file is copied to exactly that path, unless the path is an existing
/// directory, which receives it under its basename (`cp`'s rule; a directory cannot be
/// overwritten by a file).
extension Uploader {
    /// Whether `upload(paths, to: url)` names one object exactly (see above).
    public static func namesOneObject(_ paths: [String], to text: String) -> Bool {
        guard paths.count == 1, !paths[0].hasSuffix("/*"), !text.hasSuffix("/"),
              let url = try? DataURL(text), !url.key.isEmpty, !url.key.hasSuffix("/"),
              let st = FileSystem.status(paths[0]), st.st_mode & S_IFMT == S_IFREG else { return false }
        return true
    }

    /// Uploads the regular file at `path` as the object `text` names. `regex` filters by the
    /// file's basename as for any single-file argument (nothing is uploaded when it does not match).
    public func upload(file path: String, asObject text: String, regex: String? = nil) throws -> TransferRecord {
        let url = try DataURL(text)
        var record = TransferRecord(url: text, start: Clock.epochSeconds)
        guard let st = FileSystem.status(path), st.st_mode & S_IFMT == S_IFREG else {
            throw OsmoError(.notFound, "\(path): no such file")
        }
        guard try PathFilter(regex).matches(Path.basename(path)) else {
            record.end = Clock.epochSeconds
            return record
        }
        let size = Int64(st.st_size)
        progress.expect(bytes: size, files: 1)
        switch url.scheme {
        case .file:
            let target = DataListing.path(of: url)
            let (directory, name) = FileSystem.isDirectory(target) ? (target, Path.basename(path)) : (Path.parent(target), Path.basename(target))
            let file = File(root: nil, relative: path, key: name, size: size)
            try LocalCopy(progress: progress).upload([file], to: try ConfinedDirectory(directory, create: true), record: &record)
        default:
            // http(s): the URL itself (a presigned PUT keeps its query).
            let key = url.scheme == .http || url.scheme == .https ? url.text : DataListing.path(of: url)
            let file = File(root: nil, relative: path, key: key, size: size)
            let engine = try TransferEngine.shared()
            let store = try ObjectStores.open(url, credentials: credentials)
            _ = try store.put(key, size: size, engine: engine) { [progress] offset, length in
                let bytes = try Uploader.read(file, offset: offset, length: length)
                progress.add(bytes: Int64(bytes.count))
                return bytes
            }
            progress.add(files: 1)
            record.files = 1
            record.bytes = size
        }
        record.end = Clock.epochSeconds
        return record
    }
}
