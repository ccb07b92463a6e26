import NIOCore
import NIOPosix
import OsmoSystem
import Synchronization
import WSClient

/// UDP port-forward (PROTOCOL.md §7): one websocket; each BINARY frame is the client's source
/// address (4 bytes IPv4, 2 bytes port, big endian) and one datagram. Every source gets its own
/// local socket connected to `127.0.0.1:<task_port>`, so replies go back to the right client; a
/// source idle for `udpIdleSeconds` is forgotten.
extension RouterBackend {
    typealias Datagrams = NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>

    final class Flow: Sendable {
        let channel: Datagrams
        let header: [UInt8]
        let lastUsed = Mutex(Clock.now)
        init(channel: Datagrams, header: [UInt8]) {
            self.channel = channel
            self.header = header
        }
        var isOpen: Bool { channel.channel.isActive }
    }

    func udp(_ action: ServiceAction) async throws {
        let port = action.taskPort
        let idle = udpIdleSeconds
        try await dial("portforward", router: action.routerAddress, key: action.key, cookie: action.cookie) { inbound, outbound, _ in
            var flows: [[UInt8]: Flow] = [:]
            let local = try SocketAddress(ipAddress: "127.0.0.1", port: port)
            try await withThrowingDiscardingTaskGroup { group in
                for try await message in inbound.messages(maxSize: 1 << 17) {
                    guard case .binary(var buffer) = message, buffer.readableBytes >= 6 else { continue }
                    let header = buffer.readBytes(length: 6)!
                    var flow = flows[header]
                    if flow == nil || !flow!.isOpen {
                        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                            .connect(host: "127.0.0.1", port: port) { channel in
                                channel.eventLoop.makeCompletedFuture { try Datagrams(wrappingChannelSynchronously: channel) }
                            }
                        let created = Flow(channel: channel, header: header)
                        flows[header] = created
                        flow = created
                        group.addTask { await Self.replies(created, to: outbound, idleSeconds: idle) }
                    }
                    flow!.lastUsed.withLock { $0 = Clock.now }
                    try? await flow!.channel.channel.writeAndFlush(AddressedEnvelope(remoteAddress: local, data: buffer))
                }
                for flow in flows.values { try? await flow.channel.channel.close() }
            }
        }
    }

    /// Sends one source's replies back with its address in front, until it has been idle too long.
    static func replies(_ flow: Flow, to outbound: WebSocketOutboundWriter, idleSeconds: Double) async {
        try? await flow.channel.executeThenClose { datagrams, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await envelope in datagrams {
                        flow.lastUsed.withLock { $0 = Clock.now }
                        var frame = ByteBuffer(bytes: flow.header)
                        var data = envelope.data
                        frame.writeBuffer(&data)
                        try await outbound.write(.binary(frame))
                    }
                }
                group.addTask {
                    while Clock.now - flow.lastUsed.withLock({ $0 }) < idleSeconds {
                        try await Task.sleep(for: .seconds(min(idleSeconds, 5)))
                    }
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }
}
