import Glibc
import NIOCore
import NIOPosix
import OsmoCore
import OsmoTransfer
import OsmoNet
import OsmoSystem
import Synchronization
import WSClient

/// `osmo port-forward` / `osmo workflow port-forward`: local ports that reach a running task's
/// ports through the router. TCP: a control connection, and for every accepted local connection a
/// `{"key","cookie"}` announcement plus its own data connection. UDP: one connection carrying
/// datagrams behind a 6-byte source address.
public struct PortForwardClient: Sendable {
    public struct Mapping: Sendable {
        public var local: Int
        public var remote: Int
        public init(local: Int, remote: Int) {
            self.local = local
            self.remote = remote
        }

        /// `L` or `L:R`.
        public init(parsing text: String) throws {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let local = Int(parts[0]), let remote = Int(parts.last!),
                  (0...65535).contains(local), (1...65535).contains(remote) else {
                throw OsmoError(.usage, "--port takes LOCAL[:REMOTE] port numbers, got '\(text)'")
            }
            self.init(local: local, remote: remote)
        }
    }

    public var service: ServiceClient
    public var workflow: String
    public var task: String
    public var host = "127.0.0.1"
    public var udp = false
    public var connectTimeoutSeconds = 60.0
    /// Called with each mapping's bound local port once it is ready.
    public var ready: @Sendable (Mapping, Int) -> Void = { _, _ in }

    public init(service: ServiceClient, workflow: String, task: String) {
        self.service = service
        self.workflow = workflow
        self.task = task
    }

    /// Serves every mapping until one of them ends (its control connection closed).
    public func run(_ mappings: [Mapping]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for mapping in mappings {
                group.addTask { udp ? try await serveUDP(mapping) : try await serveTCP(mapping) }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    func serveTCP(_ mapping: Mapping) async throws {
        let info = try await service.portForward(workflow: workflow, task: task, port: mapping.remote, udp: false)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: mapping.local) { channel in
                channel.eventLoop.makeCompletedFuture { try Connection(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)) }
            }
        ready(mapping, server.channel.localAddress?.port ?? mapping.local)
        let control = WebSocketTarget(url: info.url("portforward", workflow: workflow), headers: try await service.routerHeaders(cookie: info.cookie), handshakeTimeout: .seconds(connectTimeoutSeconds), verifyPeer: ServiceTLS.verify)
        try await WebSocketDial.connect(control) { controlIn, controlOut in
            try await server.executeThenClose { accepted in
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask {
                        // The control connection's end ends the forward.
                        for try await _ in controlIn.messages(maxSize: 1 << 16) {}
                        throw OsmoError(.io, "the task's port-forward control connection closed")
                    }
                    for try await connection in accepted {
                        group.addTask { await forward(connection, info: info, control: controlOut) }
                    }
                }
            }
        }
    }

    private func forward(_ connection: Connection, info: ServiceClient.RouterInfo, control: WebSocketOutboundWriter) async {
        let key = "PORTFORWARD-" + String(UInt64.random(in: .min ... .max), radix: 16)
        do {
            try await control.write(.binary(ByteBuffer(string: "{\"key\":\"\(key)\",\"cookie\":\(ServiceAction.quote(info.cookie))}")))
            let target = WebSocketTarget(url: info.url("portforward", workflow: workflow, key: key), headers: try await service.routerHeaders(cookie: info.cookie), handshakeTimeout: .seconds(connectTimeoutSeconds), verifyPeer: ServiceTLS.verify)
            try await WebSocketDial.connect(target) { inbound, outbound in
                try await ByteBridge.pump(inbound, outbound, connection)
            }
        } catch {
            try? await connection.channel.close()
            OsmoClientLog.note("port-forward connection \(key): \(error)")
        }
    }

    typealias Datagrams = NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>

    func serveUDP(_ mapping: Mapping) async throws {
        let info = try await service.portForward(workflow: workflow, task: task, port: mapping.remote, udp: true)
        let socket = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: mapping.local) { channel in
                channel.eventLoop.makeCompletedFuture { try Datagrams(wrappingChannelSynchronously: channel) }
            }
        ready(mapping, socket.channel.localAddress?.port ?? mapping.local)
        let target = WebSocketTarget(url: info.url("portforward", workflow: workflow), headers: try await service.routerHeaders(cookie: info.cookie), handshakeTimeout: .seconds(connectTimeoutSeconds), verifyPeer: ServiceTLS.verify)
        try await WebSocketDial.connect(target) { inbound, outbound in
            try await socket.executeThenClose { datagrams, replies in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await envelope in datagrams {
                            guard case .v4(let address) = envelope.remoteAddress else { continue }
                            var frame = ByteBuffer()
                            _ = withUnsafeBytes(of: address.address.sin_addr.s_addr) { frame.writeBytes($0) }
                            frame.writeInteger(UInt16(envelope.remoteAddress.port ?? 0), endianness: .big)
                            var data = envelope.data
                            frame.writeBuffer(&data)
                            try await outbound.write(.binary(frame))
                        }
                    }
                    group.addTask {
                        for try await message in inbound.messages(maxSize: 1 << 17) {
                            guard case .binary(var frame) = message, frame.readableBytes >= 6,
                                  let ip = frame.readBytes(length: 4), let port = frame.readInteger(endianness: .big, as: UInt16.self) else { continue }
                            let address = try SocketAddress(ipAddress: "\(ip[0]).\(ip[1]).\(ip[2]).\(ip[3])", port: Int(port))
                            try await replies.write(AddressedEnvelope(remoteAddress: address, data: frame))
                        }
                    }
                    defer { group.cancelAll() }
                    try await group.next()
                }
            }
        }
    }
}

/// Diagnostics of the workstation commands, on stderr.
enum OsmoClientLog {
    static func note(_ text: String) {
        try? FileSystem.writeAll(2, "osmo: \(text)\n", what: "stderr")
    }
}
