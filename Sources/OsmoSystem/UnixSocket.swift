import COsmoSys
import Glibc
import OsmoCore

/// A connected `AF_UNIX` stream socket (owned: closed on deinit).
public final class UnixSocket: @unchecked Sendable {
    public private(set) var fd: Int32

    public init(adopting fd: Int32) { self.fd = fd }

    deinit { close() }

    /// Connects to `path`, throwing with the errno (ENOENT/ECONNREFUSED while the listener is not up).
    public static func connect(to path: String) throws -> UnixSocket {
        let fd = osmo_unix_connect(path)
        guard fd >= 0 else {
            throw OsmoError(.io, "cannot connect to \(path): \(SystemCall.describe(errno: -fd))", cause: Errno(-fd))
        }
        return UnixSocket(adopting: fd)
    }

    /// Reads up to `count` bytes; an empty result means end of stream.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try SystemCall.retrying("read from socket") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = try SystemCall.retrying("write to socket") {
                send(fd, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            }
            done += n
        }
    }

    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Hands the descriptor to a new owner: it is no longer closed here.
    public func release() -> Int32 {
        defer { fd = -1 }
        return fd
    }

    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}

/// A listening `AF_UNIX` socket; removes a stale socket file first and sets the mode explicitly.
public final class UnixListener: @unchecked Sendable {
    public let fd: Int32
    public let path: String

    public init(path: String, mode: mode_t = 0o777, backlog: Int32 = 64) throws {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                throw OsmoError(.io, "\(path) exists and is not a socket")
            }
            unlink(path)
        }
        let fd = osmo_unix_listen(path, backlog)
        guard fd >= 0 else {
            throw OsmoError(.io, "cannot listen on \(path): \(SystemCall.describe(errno: -fd))", cause: Errno(-fd))
        }
        self.fd = fd
        self.path = path
        chmod(path, mode)
    }

    deinit { Glibc.close(fd) }

    /// Waits up to `timeoutMilliseconds` (-1 = forever) for a connection; nil on timeout.
    public func accept(timeoutMilliseconds: Int32 = -1) throws -> UnixSocket? {
        guard try Poll.wait(fd, events: Int16(POLLIN), timeoutMilliseconds: timeoutMilliseconds) else { return nil }
        let client = try SystemCall.retrying("accept on \(path)") { osmo_accept_cloexec(fd) }
        return UnixSocket(adopting: client)
    }
}
