import FuzzDriver
import OsmoData

/// Any text as a data URL: parsed or refused with an error, never a crash; a parsed HTTP URL's
/// name never carries its query or fragment, and no name climbs out with `..`.
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    guard let url = try? DataURL(text) else { return 0 }
    let name = url.basename
    if url.scheme == .http || url.scheme == .https {
        precondition(!url.key.contains("?") && !url.key.contains("#"), "query or fragment in the key of \(text)")
    }
    _ = url.appending(name)
    _ = url.isObjectStore
    return 0
}

/// libFuzzer's own name for the test (its runtime refers to it).
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { fuzz(data, size) }

/// The executable's entry point (SwiftPM links `main` to it).
@_cdecl("fuzz_data_urls_main")
func entry(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runFuzzer(argc, argv) { fuzz($0, $1) }
}
