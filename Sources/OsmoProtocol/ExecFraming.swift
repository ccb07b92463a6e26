/// The exec session's byte stream between our client and our wrapper, beyond the reference's raw
/// terminal bytes (PROTOCOL.md §7). The client's first message asks, in keys a reference wrapper
/// ignores: `"ExitStatus":true` and `"Tty":false`. Our wrapper answers with a hello, the first
/// bytes of the session, naming the mode it runs:
///
///     \0OSMO:{"Mode":"tty"}     a terminal: raw bytes both ways, then `\0EXIT:{"Status":N}`
///     \0OSMO:{"Mode":"pipe"}    pipes: records both ways, stdout and stderr apart
///
/// A pipe-mode record is `kind` (one byte), the payload length (4 bytes, big-endian) and the
/// payload: wrapper → client `o` stdout, `e` stderr, `x` the exit status (decimal text), last;
/// client → wrapper `i` stdin bytes, `c` stdin closed. Every byte of a pipe stays exact: no
/// terminal turns LF into CR LF, and an end of input is a record, not a byte a router could drop.
/// A client that sees no hello is talking to a reference wrapper, which runs a terminal.
public enum ExecFraming {
    public enum Mode: String, Sendable, Equatable {
        case tty
        case pipe
    }

    public enum Kind: UInt8, Sendable {
        case stdout = 0x6F // o
        case stderr = 0x65 // e
        case exit = 0x78 // x
        case stdin = 0x69 // i
        case stdinClosed = 0x63 // c
    }

    public static let helloMarker = Array("\0OSMO:".utf8)
    public static let maxPayload = 1 << 20

    public static func hello(_ mode: Mode) -> [UInt8] {
        helloMarker + Array("{\"Mode\":\"\(mode.rawValue)\"}".utf8)
    }

    public static func record(_ kind: Kind, _ payload: some Collection<UInt8>) -> [UInt8] {
        var bytes: [UInt8] = [kind.rawValue]
        bytes.reserveCapacity(payload.count + 5)
        let count = UInt32(payload.count)
        bytes += [UInt8(count >> 24), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
        bytes += payload
        return bytes
    }

    /// `"Tty":false` in the client's first message (anything else: a terminal, as the reference).
    public static func asksForPipes(_ first: some Collection<UInt8>) -> Bool {
        let text = String(decoding: first, as: UTF8.self)
        guard let range = text.firstRange(of: "\"Tty\"") else { return false }
        return text[range.upperBound...].drop { $0 == " " || $0 == ":" }.hasPrefix("false")
    }

    /// What the first bytes of a session say: the wrapper's mode, `nil` while they could still
    /// be a hello, or `.none` (no hello: a reference wrapper) with the bytes consumed.
    public enum HelloResult: Equatable {
        case mode(Mode, consumed: Int)
        case incomplete
        case none
    }

    public static func parseHello(_ bytes: [UInt8]) -> HelloResult {
        let prefix = min(bytes.count, helloMarker.count)
        guard bytes.prefix(prefix).elementsEqual(helloMarker.prefix(prefix)) else { return .none }
        guard bytes.count > helloMarker.count, let close = bytes[helloMarker.count...].firstIndex(of: UInt8(ascii: "}")) else {
            return bytes.count > helloMarker.count + 64 ? .none : .incomplete
        }
        let body = String(decoding: bytes[helloMarker.count...close], as: UTF8.self)
        let mode: Mode = body.contains("\"pipe\"") ? .pipe : .tty
        return .mode(mode, consumed: close + 1)
    }

    /// Reassembles records from a byte stream split anywhere.
    public struct Decoder: Sendable {
        private var buffer: [UInt8] = []
        public init() {}

        public enum Failure: Error, CustomStringConvertible {
            case unknownKind(UInt8), oversize(Int)
            public var description: String {
                switch self {
                case .unknownKind(let byte): "an exec record of unknown kind \(byte)"
                case .oversize(let count): "an exec record of \(count) bytes (at most \(ExecFraming.maxPayload))"
                }
            }
        }

        /// Complete records so far, in order.
        public mutating func feed(_ bytes: some Collection<UInt8>) throws -> [(kind: Kind, payload: ArraySlice<UInt8>)] {
            buffer += bytes
            var records: [(kind: Kind, payload: ArraySlice<UInt8>)] = []
            var start = 0
            while buffer.count - start >= 5 {
                guard let kind = Kind(rawValue: buffer[start]) else { throw Failure.unknownKind(buffer[start]) }
                let count = Int(buffer[start + 1]) << 24 | Int(buffer[start + 2]) << 16 | Int(buffer[start + 3]) << 8 | Int(buffer[start + 4])
                guard count <= ExecFraming.maxPayload else { throw Failure.oversize(count) }
                guard buffer.count - start - 5 >= count else { break }
                records.append((kind, buffer[(start + 5)..<(start + 5 + count)]))
                start += 5 + count
            }
            if start > 0 { buffer.removeFirst(start) }
            return records
        }

        /// Bytes of an unfinished record.
        public var pendingBytes: Int { buffer.count }
    }
}
