import COsmoSys
import Glibc
import OsmoCore

/// A listening IPv4 TCP socket on one address (the rsync daemon's `127.0.0.1:16000`).
///
/// Plain sockets, not NIO: each accepted connection is handed whole to a child process (rsync in
/// inetd mode), so no event loop ever reads it.
public final class TCPListener: @unchecked Sendable {
    public let fd: Int32
    public let port: Int

    public init(host: String = "127.0.0.1", port: Int, backlog: Int32 = 64) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw OsmoError(.io, "socket: \(SystemCall.describe(errno: errno))") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            Glibc.close(fd)
            throw OsmoError(.usage, "not an IPv4 address: \(host)")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, backlog) == 0 else {
            let err = errno
            Glibc.close(fd)
            throw OsmoError(.io, "cannot listen on \(host):\(port): \(SystemCall.describe(errno: err))", cause: Errno(err))
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: actual.sin_port))
    }

    deinit { Glibc.close(fd) }

    /// Waits up to `timeoutMilliseconds` (-1 = forever) for a connection; its descriptor
    /// (close-on-exec), or nil on timeout.
    public func accept(timeoutMilliseconds: Int32 = -1) throws -> Int32? {
        guard try Poll.wait(fd, events: Int16(POLLIN), timeoutMilliseconds: timeoutMilliseconds) else { return nil }
        return try SystemCall.retrying("accept on port \(port)") { osmo_accept_cloexec(fd) }
    }
}
