import FuzzDriver
import OsmoData

/// Any text as a credential file: MiniYAML parses or refuses it, and every profile found can be
/// looked up; never a crash or a hang.
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    guard let root = try? MiniYAML.parse(text) else { return 0 }
    for (profile, node) in root["auth"]?["data"]?.pairs ?? [] {
        _ = node["endpoint"]?.string
        _ = node["access_key"]?.string
        if let url = try? DataURL(profile) { _ = url.basename }
    }
    return 0
}

/// libFuzzer's own name for the test (its runtime refers to it).
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { fuzz(data, size) }

/// The executable's entry point (SwiftPM links `main` to it).
@_cdecl("fuzz_credential_files_main")
func entry(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runFuzzer(argc, argv) { fuzz($0, $1) }
}
