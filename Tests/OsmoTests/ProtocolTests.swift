import FoundationEssentials
@testable import OsmoProtocol
import Testing

@Suite struct ProtocolTests {
    /// Byte-for-byte what Go's json.Encoder writes for the reference struct.
    @Test func wireBytesMatchGoEncoder() {
        let message = SocketMessage.out("a \"quoted\" <tag> & tab\t\u{1}é\u{2028}")
        let expected = #"{"Type":"MessageOut","MessageOut":"a \"quoted\" \u003ctag\u003e \u0026 tab\t\u0001é\u2028","MessageErr":"","MessageOps":"","OutputFolder":"","RouterAddress":"","Command":"","TaskPort":0,"RsyncRunning":false}"# + "\n"
        #expect(String(decoding: message.wireBytes, as: UTF8.self) == expected)
    }

    @Test func roundTripThroughStream() {
        let messages: [SocketMessage] = [
            .out("line"), .err("ünïcødé"), SocketMessage(.execStart, outputFolder: "/out/"),
            SocketMessage(.userExecStart, command: "/bin/bash", taskPort: 8080, rsyncRunning: true),
        ]
        var bytes: [UInt8] = []
        for m in messages { bytes += m.wireBytes }
        // Fed one byte at a time: values split across reads.
        var stream = MessageStream()
        var events: [MessageStream.Event] = []
        for byte in bytes { events += stream.feed([byte]) }
        #expect(events == messages.map { .message($0) })
    }

    @Test func concatenatedWithoutNewlinesAndMissingFields() {
        var stream = MessageStream()
        let events = stream.feed(Array(#"{"Type":"UserStop"}{"Type":"UserStart","Command":"x"}  {"Type":"CtrlFailed"}"#.utf8))
        #expect(events == [
            .message(SocketMessage(.userStop)), .message(SocketMessage(.userStart, command: "x")),
            .message(SocketMessage(.ctrlFailed)),
        ])
    }

    @Test func garbageIsSkippedAndStreamRecovers() {
        var stream = MessageStream()
        let events = stream.feed(Array("hello world\n\u{0}\u{1}binary{\"Type\":\"UserStop\"}".utf8))
        #expect(events.contains(.message(SocketMessage(.userStop))))
        #expect(events.first.map { if case .garbage = $0 { true } else { false } } == true)
    }

    @Test func invalidObjectIsReportedNotFatal() {
        var stream = MessageStream()
        let events = stream.feed(Array(#"{"Type": 5}{"TaskPort":"x"}{"Type":"UserStop"}"#.utf8))
        #expect(events.count == 3)
        #expect(events.prefix(2).allSatisfy { if case .invalid = $0 { true } else { false } })
        #expect(events.last == .message(SocketMessage(.userStop)))
    }

    @Test func oversizeMessageIsSkippedWithoutBuffering() {
        var stream = MessageStream(maxMessageBytes: 1024)
        var events = stream.feed(Array(#"{"Type":"MessageOut","MessageOut":""#.utf8))
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
        for _ in 0..<256 { events += stream.feed(chunk) }  // 1 MiB of payload
        #expect(stream.pendingBytes == 0)
        events += stream.feed(Array(#"}"}{"Type":"UserStop"}"#.utf8))
        #expect(events.count == 2)
        if case .oversize(let bytes) = events[0] { #expect(bytes > 1_000_000) } else { Issue.record("expected oversize") }
        #expect(events[1] == .message(SocketMessage(.userStop)))
    }

    /// A writer cut off mid-message (inside a string, or inside the object) does not swallow the
    /// messages after it: the raw newline ends the broken one and decoding resumes.
    @Test(arguments: [#"{"Type":"MessageOut","MessageOut":"half a li"#, #"{"Type":"MessageOut","MessageOut":"x","#, #"{"Type":{"#])
    func unterminatedMessageResynchronisesAtTheNextLine(broken: String) {
        var stream = MessageStream()
        let events = stream.feed(Array((broken + "\n" + #"{"Type":"UserStop"}"# + "\n" + #"{"Type":"MessageOut","MessageOut":"after"}"# + "\n").utf8))
        #expect(events.count == 3, "\(events)")
        if case .invalid(let reason) = events.first { #expect(reason.contains("unterminated")) } else { Issue.record("expected invalid: \(events)") }
        #expect(events.dropFirst().first == .message(SocketMessage(.userStop)))
        #expect(events.last == .message(.out("after")))
        #expect(stream.pendingBytes == 0)
    }

    @Test func braceInsideStringsDoesNotConfuseFraming() {
        var stream = MessageStream()
        let events = stream.feed(Array(#"{"Type":"MessageOut","MessageOut":"}{\"]"}"#.utf8))
        #expect(events == [.message(.out(#"}{""#  + "]"))])
    }

    /// The relay's direct decoder agrees with JSONDecoder on every shape, and declines (so the
    /// stream falls back) on anything that is not a flat message.
    @Test func fastDecoderAgreesWithJSONDecoder() throws {
        let samples = [
            #"{"Type":"MessageOut","MessageOut":"plain"}"#,
            #"{"Type":"MessageErr","MessageErr":"esc \" \\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 \u003c"}"#,
            #" { "TaskPort" : -12 , "RsyncRunning" : true, "Extra": null, "More": 1.5e3, "Type":"UserExecStart" } "#,
            #"{}"#,
            #"{"Type":"ExecStart","OutputFolder":"/o/","RouterAddress":"r","Command":"c","TaskPort":0,"RsyncRunning":false,"MessageOps":"ops"}"#,
        ]
        for sample in samples {
            let fast = Array(sample.utf8).withUnsafeBytes { SocketMessage.decodeFlat($0) }
            let slow = try JSONDecoder().decode(SocketMessage.self, from: Data(sample.utf8))
            #expect(fast == slow, "\(sample)")
        }
        for declined in [#"{"Type":{"nested":1}}"#, #"{"TaskPort":"x"}"#, #"{"TaskPort":1.5}"#, #"{"Type":"a"} trailing"#, #"{"Type":"a\q"}"#] {
            #expect(Array(declined.utf8).withUnsafeBytes { SocketMessage.decodeFlat($0) } == nil, "\(declined)")
        }
    }
}
