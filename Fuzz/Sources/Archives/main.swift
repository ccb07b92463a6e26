import FuzzDriver
import Glibc
import OsmoArchive
import OsmoSystem

/// Any bytes as an archive, extracted into a fresh directory beside an `outside` one: refused or
/// extracted, never a crash, and `outside` (and the scratch directory itself) gain nothing.
let scratch: String = {
    var template = Array("/tmp/osmo-fuzz-archives-XXXXXX".utf8CString)
    _ = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    mkdir(path + "/outside", 0o755)
    return path
}()

func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data else { return 0 }
    let archive = scratch + "/input"
    let destination = scratch + "/dest"
    let fd = open(archive, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    _ = write(fd, data, size)
    close(fd)
    try? FileSystem.removeTree(destination)
    mkdir(destination, 0o755)
    let limits = ArchiveExtractor.Limits(maxBytes: 64 << 20, maxRatio: 0)
    if let extractor = try? ArchiveExtractor(destination: destination, name: "fuzz", limits: limits) {
        _ = try? extractor.extract(file: archive)
    }
    let outside = (try? FileSystem.contents(of: scratch + "/outside")) ?? []
    precondition(outside.isEmpty, "extraction wrote outside its destination: \(outside)")
    let top = Set((try? FileSystem.contents(of: scratch)) ?? [])
    precondition(top.isSubset(of: ["input", "dest", "outside"]), "extraction created \(top) beside its destination")
    return 0
}

/// libFuzzer's own name for the test (its runtime refers to it).
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { fuzz(data, size) }

/// The executable's entry point (SwiftPM links `main` to it).
@_cdecl("fuzz_archives_main")
func entry(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runFuzzer(argc, argv) { fuzz($0, $1) }
}
