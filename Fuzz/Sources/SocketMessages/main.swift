import FuzzDriver
import OsmoProtocol

/// Any bytes, split at an input-chosen point: the decoder never crashes, never buffers more
/// than its limit, and reports every byte it consumed as a message, garbage or a refusal.
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data else { return 0 }
    guard size > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let split = Int(bytes[0]) % size
    var stream = MessageStream(maxMessageBytes: 4096)
    _ = stream.feed(UnsafeRawBufferPointer(rebasing: bytes[1..<max(split, 1)]))
    _ = stream.feed(UnsafeRawBufferPointer(rebasing: bytes[max(split, 1)...]))
    precondition(stream.pendingBytes <= 4096 + 1, "decoder buffered \(stream.pendingBytes) bytes past its limit")
    return 0
}

/// libFuzzer's own name for the test (its runtime refers to it).
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { fuzz(data, size) }

/// The executable's entry point (SwiftPM links `main` to it).
@_cdecl("fuzz_socket_messages_main")
func entry(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runFuzzer(argc, argv) { fuzz($0, $1) }
}
