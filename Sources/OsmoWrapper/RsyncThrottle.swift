import Glibc
import OsmoSystem
import Synchronization

/// Carries one rsync connection between the client's TCP socket and the rsync process's end of
/// a socket pair, each direction at no more than its rate in bytes/s (0: unlimited), the
/// reference's per-connection `bwlimit` listener.
///
/// ## Concurrency model
/// Two detached threads per connection, one per direction, each blocking in `read`/`write` and
/// sleeping to keep its average under the rate. A direction that reaches end of file half-closes
/// the other side (`shutdown(SHUT_WR)`), so rsync's own end-of-stream handling works; a failed
/// write shuts both sides. The last of the two threads to finish closes both descriptors (an
/// atomic count).
final class RsyncThrottle: Sendable {
    let client: Int32
    let server: Int32
    private let finished = Atomic(0)

    init(client: Int32, server: Int32) {
        self.client = client
        self.server = server
    }

    /// `upload`: client → rsync (the reference's read limit); `download`: rsync → client (write limit).
    func start(upload: Int, download: Int) {
        ThreadStarter.detach { [self] in pump(from: client, to: server, rate: upload) }
        ThreadStarter.detach { [self] in pump(from: server, to: client, rate: download) }
    }

    /// The chunk one read may take: a twentieth of a second's worth, so pacing is smooth.
    static func chunkSize(rate: Int) -> Int {
        rate <= 0 ? 256 * 1024 : min(256 * 1024, max(1024, rate / 20))
    }

    private func pump(from source: Int32, to destination: Int32, rate: Int) {
        var buffer = [UInt8](repeating: 0, count: Self.chunkSize(rate: rate))
        var total = 0
        var start = 0.0
        loop: while true {
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                shutdown(destination, Int32(SHUT_WR))
                break
            }
            if total == 0 { start = Clock.now }
            var offset = 0
            while offset < n {
                let written = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + offset, n - offset) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 {
                    shutdown(source, Int32(SHUT_RDWR))
                    shutdown(destination, Int32(SHUT_RDWR))
                    break loop
                }
                offset += written
            }
            total += n
            if rate > 0 {
                // The first chunk leaves at once; every later byte no earlier than its due time.
                let due = start + Double(total) / Double(rate)
                let wait = due - Clock.now
                if wait > 0 { usleep(useconds_t(min(wait, 10) * 1_000_000)) }
            }
        }
        if finished.add(1, ordering: .acquiringAndReleasing).newValue == 2 {
            close(client)
            close(server)
        }
    }
}
