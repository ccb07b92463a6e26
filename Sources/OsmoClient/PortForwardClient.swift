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
///
/// Each mapping keeps its local socket bound for the whole run and its control connection alive
/// with the reference CLI's loop (`src/cli/workflow.py` `_single_port_forward`): when the control
/// connection ends, wait `2^min(retry,5) + U(0,5)` seconds ("Reconnect to remote port R in N
/// seconds..."), ask the service for a new session and connect again; a failed request for a
/// session counts one more retry and waits again, and a second failure in a row, or a refusal
/// (4xx: the task is gone), ends the forward. Everything that goes wrong is said on this terminal.
///
/// ## Concurrency model
/// Per mapping, one task owns the control connection (`keepLinked`) and publishes it in a
/// `ControlLink` (a `Mutex`); the accept loop (TCP) or datagram reader (UDP) reads the link for
/// each connection or datagram and never blocks the link task. A connection accepted while the
/// link is down waits for it up to the connect timeout. Writes to a control connection that has
/// just closed fail, and that connection alone is closed.
public struct PortForwardClient: Sendable {
    public struct Mapping: Sendable, Equatable {
        public var local: Int
        public var remote: Int
        public init(local: Int, remote: Int) {
            self.local = local
            self.remote = remote
        }

        /// One `--port` value as the reference CLI reads it (`workflow.py` `parse_port`):
        /// comma-separated `L`, `L:R`, `A-B` or `A-B:C-D` (ranges inclusive, same length), so
        /// `8000-8010:9000-9010,8015` is twelve mappings. Errors are the reference's words.
        public static func parse(_ text: String) throws -> [Mapping] {
            var locals: [Int] = [], remotes: [Int] = []
            for interval in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                let sides = interval.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                if (1...2).contains(sides.count), sides.allSatisfy(isRange) {
                    let first = try range(sides[0])
                    locals += first
                    remotes += sides.count == 1 ? first : try range(sides[1])
                } else {
                    let (local, remote) = try single(interval)
                    locals.append(local)
                    remotes.append(remote)
                }
            }
            guard locals.count == remotes.count else {
                throw OsmoError(.usage, "Invalid number of ports provided. Local port are \(locals.count) and remote ports are \(remotes.count)")
            }
            return zip(locals, remotes).map { Mapping(local: $0, remote: $1) }
        }

        static func isDigits(_ text: some StringProtocol) -> Bool {
            !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber }
        }

        static func isRange(_ text: String) -> Bool {
            let ends = text.split(separator: "-", omittingEmptySubsequences: false)
            return ends.count == 2 && ends.allSatisfy(isDigits)
        }

        /// `A-B`, inclusive, `A < B` (`parse_range_port`).
        static func range(_ text: String) throws -> [Int] {
            let ends = text.split(separator: "-").map { Int($0) ?? Int.max }
            guard ends[0] >= 0, ends[1] <= 65535, ends[0] < ends[1] else {
                throw OsmoError(.usage, "Invalid port value: \(text). Port value must be between 0 and 65535.")
            }
            return Array(ends[0]...ends[1])
        }

        /// `L` or `L:R` (`parse_single_port`).
        static func single(_ text: String) throws -> (Int, Int) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), parts.allSatisfy(isDigits) else {
                throw OsmoError(.usage, "Invalid port format: \(text). Please use format <integer>:<integer> or <integer>.")
            }
            let ports = parts.map { Int($0) ?? Int.max }
            for port in ports where port > 65535 {
                throw OsmoError(.usage, "Invalid port value: \(parts[ports.firstIndex(of: port)!]). Port value must be between 0 and 65535.")
            }
            return (ports[0], ports.last!)
        }
    }

    public var service: ServiceClient
    public var workflow: String
    public var task: String
    public var host = "127.0.0.1"
    public var udp = false
    /// An rsync session (`osmo workflow rsync`): the service's rsync action, whose control
    /// connection is on the router's rsync path; the connections are the same as port-forward's.
    public var rsync = false
    public var connectTimeoutSeconds = 60.0
    /// Called with each mapping's bound local port once its first control connection is up.
    public var ready: @Sendable (Mapping, Int) -> Void = { _, _ in }
    /// The reference's reconnect delay for `retry` (`port_forward.py`
    /// `get_exponential_backoff_delay`); tests may shorten it.
    public var backoff: @Sendable (Int) -> Double = PortForwardClient.referenceBackoff

    public init(service: ServiceClient, workflow: String, task: String) {
        self.service = service
        self.workflow = workflow
        self.task = task
    }

    /// `random() * 5 + 2 ** min(retry, 5)` seconds.
    public static func referenceBackoff(_ retry: Int) -> Double {
        Double.random(in: 0..<5) + Double(1 << min(max(retry, 0), 5))
    }

    /// Serves every mapping until one of them ends for good.
    public func run(_ mappings: [Mapping]) async throws {
        var seen = Set<Int>()
        for mapping in mappings where mapping.local != 0 && !seen.insert(mapping.local).inserted {
            throw OsmoError(.usage, "local port \(mapping.local) is given twice")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for mapping in mappings {
                group.addTask { udp ? try await serveUDP(mapping) : try await serveTCP(mapping) }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// What a mapping's link task publishes.
    final class ControlLink: Sendable {
        struct Up: Sendable {
            var info: ServiceClient.RouterInfo
            var control: WebSocketOutboundWriter
        }
        private let state = Mutex<Up?>(nil)
        func set(_ up: Up?) { state.withLock { $0 = up } }
        var current: Up? { state.withLock { $0 } }

        /// The link, waiting up to `seconds` while it is (re)connecting.
        func waitUp(seconds: Double) async -> Up? {
            let deadline = Clock.now + seconds
            while true {
                if let up = current { return up }
                if Clock.now >= deadline || Task.isCancelled { return nil }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    var proto: String { udp ? "udp" : "tcp" }

    func describe(_ mapping: Mapping, bound: Int) -> String {
        "\(host):\(bound) -> \(workflow)/\(task):\(mapping.remote) (\(proto))"
    }

    func serveTCP(_ mapping: Mapping) async throws {
        let server: NIOAsyncChannel<Connection, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: mapping.local) { channel in
                    channel.eventLoop.makeCompletedFuture { try Connection(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)) }
                }
        } catch {
            throw Self.bindFailure(error, host: host, mapping: mapping, proto: "tcp")
        }
        let bound = server.channel.localAddress?.port ?? mapping.local
        let link = ControlLink()
        try await server.executeThenClose { accepted in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await keepLinked(mapping, bound: bound, link: link) { inbound, _ in
                        // The control connection carries nothing for us; its end is the link's.
                        for try await _ in inbound.messages(maxSize: 1 << 16) {}
                    }
                }
                group.addTask {
                    try await withThrowingDiscardingTaskGroup { connections in
                        for try await connection in accepted {
                            connections.addTask { await forward(connection, mapping: mapping, bound: bound, link: link) }
                        }
                    }
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }

    /// One local connection: announced on the control connection, carried by its own.
    private func forward(_ connection: Connection, mapping: Mapping, bound: Int, link: ControlLink) async {
        let key = "PORTFORWARD-" + String(UInt64.random(in: .min ... .max), radix: 16)
        let peer = connection.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "a local client"
        guard let up = await link.waitUp(seconds: connectTimeoutSeconds) else {
            try? await connection.channel.close()
            OsmoClientLog.note("\(describe(mapping, bound: bound)): the link to the task is down (reconnecting); closed the connection from \(peer)")
            return
        }
        let started = Clock.now
        do {
            try await up.control.write(.binary(ByteBuffer(string: "{\"key\":\"\(key)\",\"cookie\":\(ServiceAction.quote(up.info.cookie))}")))
            let url = up.info.url("portforward", workflow: workflow, key: key)
            let target = WebSocketTarget(url: url, headers: try await service.routerHeaders(cookie: up.info.cookie), handshakeTimeout: .seconds(connectTimeoutSeconds), verifyPeer: ServiceTLS.verify)
            let moved = Mutex(ByteBridge.Totals())
            let opened = Flag()
            do {
                try await WebSocketDial.connect(target) { inbound, outbound, pacer in
                    opened.set()
                    let totals = try await ByteBridge.pump(inbound, outbound, pacer, connection)
                    moved.withLock { $0 = totals }
                }
            } catch {
                throw OsmoError(.io, opened.isSet ? "the router connection broke: \(Self.reason(error))"
                                                  : "cannot open the router connection \(url): \(Self.reason(error))")
            }
            let totals = moved.withLock { $0 }
            // ctrl closes a data connection at once, with nothing sent, when nothing in the task
            // accepts it; it says why only in the task log. Say it here too.
            if totals.toSocket == 0 && (totals.fromSocket > 0 || Clock.now - started < 1) {
                OsmoClientLog.note("\(describe(mapping, bound: bound)): the connection from \(peer) ended with nothing from the task: is a server listening on port \(mapping.remote) in the task? (osmo-ctrl's reason is in the task log)")
            }
        } catch {
            try? await connection.channel.close()
            // The forward is being taken down (its command is done): nothing went wrong.
            if Task.isCancelled { return }
            OsmoClientLog.note("\(describe(mapping, bound: bound)): connection from \(peer): \(error)")
        }
    }

    /// The control connection of one mapping, kept up with the reference's backoff; `session`
    /// runs while it is open. Returns never; throws when the service refuses a new session.
    func keepLinked(_ mapping: Mapping, bound: Int, link: ControlLink,
                    session: @escaping @Sendable (WebSocketInboundStream, WebSocketOutboundWriter) async throws -> Void) async throws {
        // The first request's failure ends the command at once, with the service's reason.
        var info = try await requestSession(mapping)
        var retry = 0
        var connectedBefore = false
        while true {
            let url = info.url(rsync ? "rsync" : "portforward", workflow: workflow)
            let linked = Flag()
            do {
                let target = WebSocketTarget(url: url, headers: try await service.routerHeaders(cookie: info.cookie), handshakeTimeout: .seconds(connectTimeoutSeconds), verifyPeer: ServiceTLS.verify)
                let current = info
                let first = !connectedBefore
                let close = try await WebSocketDial.connect(target) { inbound, outbound, _ in
                    linked.set()
                    link.set(ControlLink.Up(info: current, control: outbound))
                    if first {
                        ready(mapping, bound)
                    } else {
                        OsmoClientLog.note("reconnected to the router: \(describe(mapping, bound: bound))")
                    }
                    defer { link.set(nil) }
                    try await session(inbound, outbound)
                }
                let why = close.map { frame in " (\(frame.closeCode)\(frame.reason.map { ": \($0)" } ?? ""))" } ?? ""
                OsmoClientLog.note("\(describe(mapping, bound: bound)): the task's port-forward connection closed\(why)")
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                try Task.checkCancellation()
                let what = linked.isSet ? "the port-forward connection to the task broke" : "cannot connect to the router at \(url)"
                OsmoClientLog.note("\(describe(mapping, bound: bound)): \(what): \(Self.reason(error))")
            }
            link.set(nil)
            connectedBefore = connectedBefore || linked.isSet
            // The reference: wait, request a new session; a server error counts a retry, waits
            // longer and requests once more; a second failure, or a refusal, ends the forward.
            try await waitToReconnect(retry, mapping)
            do {
                info = try await requestSession(mapping)
            } catch let error as OsmoError where error.code == .io {
                OsmoClientLog.note("\(describe(mapping, bound: bound)): \(error)")
                retry += 1
                try await waitToReconnect(retry, mapping)
                info = try await requestSession(mapping)
            }
        }
    }

    private func requestSession(_ mapping: Mapping) async throws -> ServiceClient.RouterInfo {
        rsync ? try await service.rsync(workflow: workflow, task: task)
              : try await service.portForward(workflow: workflow, task: task, port: mapping.remote, udp: udp)
    }

    private func waitToReconnect(_ retry: Int, _ mapping: Mapping) async throws {
        let delay = backoff(retry)
        try? FileSystem.writeAll(1, "Reconnect to remote port \(mapping.remote) in \(Int(delay)) seconds...\n", what: "stdout")
        try await Task.sleep(for: .seconds(delay))
    }

    typealias Datagrams = NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>

    func serveUDP(_ mapping: Mapping) async throws {
        let socket: Datagrams
        do {
            socket = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: mapping.local) { channel in
                    channel.eventLoop.makeCompletedFuture { try Datagrams(wrappingChannelSynchronously: channel) }
                }
        } catch {
            throw Self.bindFailure(error, host: host, mapping: mapping, proto: "udp")
        }
        let bound = socket.channel.localAddress?.port ?? mapping.local
        let link = ControlLink()
        try await socket.executeThenClose { datagrams, replies in
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Replies: from the current connection to the datagram's source.
                group.addTask {
                    try await keepLinked(mapping, bound: bound, link: link) { inbound, _ in
                        for try await message in inbound.messages(maxSize: 1 << 17) {
                            guard case .binary(var frame) = message, frame.readableBytes >= 6,
                                  let ip = frame.readBytes(length: 4), let port = frame.readInteger(endianness: .big, as: UInt16.self) else { continue }
                            let address = try SocketAddress(ipAddress: "\(ip[0]).\(ip[1]).\(ip[2]).\(ip[3])", port: Int(port))
                            try await replies.write(AddressedEnvelope(remoteAddress: address, data: frame))
                        }
                    }
                }
                // Datagrams: to the current connection; dropped (as UDP may) while it is down.
                group.addTask {
                    for try await envelope in datagrams {
                        guard case .v4(let address) = envelope.remoteAddress, let up = link.current else { continue }
                        var frame = ByteBuffer()
                        _ = withUnsafeBytes(of: address.address.sin_addr.s_addr) { frame.writeBytes($0) }
                        frame.writeInteger(UInt16(envelope.remoteAddress.port ?? 0), endianness: .big)
                        var data = envelope.data
                        frame.writeBuffer(&data)
                        try? await up.control.write(.binary(frame))
                    }
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }

    /// A bind failure in words that say what to do (NIO's text is `bind(descriptor:ptr:bytes):
    /// Address already in use (errno: 98)`).
    static func bindFailure(_ error: any Error, host: String, mapping: Mapping, proto: String) -> OsmoError {
        let place = "\(host):\(mapping.local) (\(proto))"
        let other = mapping.local + 1 <= 65535 ? mapping.local + 1 : 1024
        let reason: String
        var cause: (any Error)? = nil
        if let error = error as? IOError {
            switch error.errnoCode {
            case EADDRINUSE:
                reason = "the local port \(mapping.local) is already in use (by another program, or another osmo port-forward). Pick another local port: --port \(other):\(mapping.remote), or --port 0:\(mapping.remote) for any free one"
            case EACCES:
                reason = "ports below 1024 need root. Pick a local port of 1024 or more, e.g. --port \(max(mapping.local, 1) + 8000):\(mapping.remote)"
            case EADDRNOTAVAIL:
                reason = "\(host) is not an address of this machine (--host)"
            default:
                reason = String(cString: strerror(error.errnoCode))
                cause = error
            }
        } else if error is SocketAddressError {
            reason = "cannot resolve --host \(host)"
        } else {
            reason = "\(error)"
        }
        // The errno is said in words above; NIO's `bind(descriptor:ptr:bytes:)` text only when
        // it is one we have no words for.
        return OsmoError(.io, "cannot listen on \(place): \(reason)", cause: cause)
    }

    /// A connection error's text without NIO's syscall plumbing.
    static func reason(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return "\(first.target): \(reason(first.error))"
        }
        return "\(error)"
    }
}

/// Diagnostics of the workstation commands, on stderr.
enum OsmoClientLog {
    static func note(_ text: String) {
        try? FileSystem.writeAll(2, "osmo: \(text)\n", what: "stderr")
    }
}
