import COsmoCurl
import Glibc
import OsmoCore
import OsmoSystem
import Synchronization

/// One `curl_multi` loop on its own thread, driving every HTTP exchange of the process.
///
/// Requests are queued from any thread; at most `maxConcurrent` run at once over a shared
/// connection cache (keep-alive, HTTP/2 multiplexing where offered). Failed attempts are retried
/// per `RetryPolicy`, resuming the body where the sink left off.
public final class TransferEngine: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var maxConcurrent: Int
        public var connectTimeoutSeconds: Int
        /// An attempt slower than `minimumSpeed` bytes/s for `stallSeconds` fails (then it is
        /// retried, resuming): a stalled or trickling server (1 byte/s) fails in minutes, never
        /// hangs a task. `OSMO_TRANSFER_MIN_SPEED` and `OSMO_TRANSFER_STALL_SECONDS` (ctrl's
        /// `-dataTimeout` sets the latter).
        public var stallSeconds: Int
        public var minimumSpeed: Int
        /// Seconds one object may take over all its attempts (0 = no limit):
        /// `OSMO_TRANSFER_DEADLINE_SECONDS`.
        public var deadlineSeconds: Int
        public var retry: RetryPolicy
        public var caBundle: String?
        public var verifyTLS: Bool
        /// Host name overrides handed to libcurl (`CURLOPT_RESOLVE`, its `HOST:PORT:ADDRESS[,ADDRESS…]`
        /// form): `$OSMO_CURL_RESOLVE`, entries separated by spaces. For tests: a virtual-hosted
        /// bucket name (`bkt.s3.osmo.test:9000:127.0.0.1`) reaches a local server without DNS.
        public var resolve: [String]

        public init(
            maxConcurrent: Int = TransferEngine.defaultConcurrency, connectTimeoutSeconds: Int = 30,
            stallSeconds: Int = Configuration.environment("OSMO_TRANSFER_STALL_SECONDS") ?? 120,
            minimumSpeed: Int = Configuration.environment("OSMO_TRANSFER_MIN_SPEED") ?? 1024,
            deadlineSeconds: Int = Configuration.environment("OSMO_TRANSFER_DEADLINE_SECONDS") ?? 0,
            retry: RetryPolicy = RetryPolicy(), caBundle: String? = TransferEngine.discoverCABundle(),
            verifyTLS: Bool = true,
            resolve: [String] = (getenv("OSMO_CURL_RESOLVE").map { String(cString: $0) } ?? "").split(separator: " ").map(String.init)
        ) {
            self.maxConcurrent = maxConcurrent
            self.connectTimeoutSeconds = connectTimeoutSeconds
            self.stallSeconds = stallSeconds
            self.minimumSpeed = minimumSpeed
            self.deadlineSeconds = deadlineSeconds
            self.retry = retry
            self.caBundle = caBundle
            self.verifyTLS = verifyTLS
            self.resolve = resolve
        }

        /// A whole number from the environment, or nil.
        public static func environment(_ name: String) -> Int? {
            getenv(name).flatMap { Int(String(cString: $0)) }
        }
    }

    /// 16 transfers per core, at least 16, at most 128: object stores reward parallelism far more
    /// than CPU does here, since each transfer is mostly waiting on the network.
    public static var defaultConcurrency: Int {
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return min(128, max(16, 16 * max(cores, 1)))
    }

    /// The first CA bundle that exists: `$SSL_CERT_FILE`, `$CURL_CA_BUNDLE`, then the usual
    /// locations of Debian, RHEL, SUSE and Alpine (the bundled libcurl may come from another distro
    /// than the container it runs in).
    public static func discoverCABundle() -> String? {
        let names: [String] = ["SSL_CERT_FILE", "CURL_CA_BUNDLE"]
        let env: [String] = names.compactMap { name in getenv(name).map { String(cString: $0) } }
        let known = [
            "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
            "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem",
        ]
        return (env + known).first { FileSystem.exists($0) }
    }

    let configuration: Configuration
    let multi: UnsafeMutableRawPointer
    private let inbox = Mutex(Inbox())
    private var pending: [Transfer] = []
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    private var waiting: [(due: Double, transfer: Transfer)] = []
    private var idle: [UnsafeMutableRawPointer] = []
    private var nextID = 0

    private struct Inbox {
        var submitted: [Transfer] = []
        var resumed: [ObjectIdentifier] = []
        var stopping = false
    }

    public init(_ configuration: Configuration = Configuration()) throws {
        try CurlLibrary.load()
        guard let multi = osmo_curl_multi_init() else {
            throw OsmoError(.internalError, "curl_multi_init failed")
        }
        self.configuration = configuration
        self.multi = multi
        osmo_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, configuration.maxConcurrent)
        ThreadStarter.detach { [self] in run() }
    }

    /// Queues `request`; `completion` runs on the engine thread (keep it short).
    public func submit(_ request: HTTPRequest, completion: @escaping @Sendable (Result<HTTPResponse, OsmoError>) -> Void) {
        let transfer = Transfer(request: request, completion: completion)
        inbox.withLock { $0.submitted.append(transfer) }
        osmo_curl_multi_wakeup(multi)
    }

    /// Runs `request` and waits for its outcome.
    public func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        let outcome = ConditionLock<Result<HTTPResponse, OsmoError>?>(nil)
        submit(request) { result in outcome.withLock { $0 = result } }
        return try outcome.wait { $0 }!.get()
    }

    /// Un-pauses a transfer whose sink answered `.pause`.
    public func resume(_ sink: any ResponseSink) {
        inbox.withLock { $0.resumed.append(ObjectIdentifier(sink)) }
        osmo_curl_multi_wakeup(multi)
    }

    /// Stops the loop once nothing is queued or running (the engine may not be used afterwards).
    public func shutdown() {
        inbox.withLock { $0.stopping = true }
        osmo_curl_multi_wakeup(multi)
    }

    // MARK: The loop

    private func run() {
        var running: Int32 = 0
        while true {
            let (submitted, resumed, stopping) = inbox.withLock { box in
                defer { box.submitted = []; box.resumed = [] }
                return (box.submitted, box.resumed, box.stopping)
            }
            pending.append(contentsOf: submitted)
            for id in resumed {
                if let transfer = active.values.first(where: { $0.sinkID == id }), transfer.paused {
                    transfer.paused = false
                    osmo_curl_easy_pause(transfer.easy, 0)
                }
            }
            let now = Clock.now
            while let index = waiting.firstIndex(where: { $0.due <= now }) {
                pending.append(waiting.remove(at: index).transfer)
            }
            while active.count < configuration.maxConcurrent, !pending.isEmpty {
                start(pending.removeFirst())
            }
            if stopping && active.isEmpty && pending.isEmpty && waiting.isEmpty { break }

            osmo_curl_multi_perform(multi, &running)
            var handle: UnsafeMutableRawPointer?
            var code = CURLE_OK
            while osmo_curl_multi_next_done(multi, &handle, &code) == 1 {
                guard let handle, let transfer = active.removeValue(forKey: handle) else { continue }
                osmo_curl_multi_remove_handle(multi, handle)
                finished(transfer, code: code)
            }
            var timeout: Int32 = 1000
            if let due = waiting.map(\.due).min() {
                timeout = Int32(max(0, min(1000, (due - Clock.now) * 1000)))
            }
            if !pending.isEmpty && active.count < configuration.maxConcurrent { timeout = 0 }
            var fds: Int32 = 0
            osmo_curl_multi_poll(multi, timeout, &fds)
        }
        for handle in idle { osmo_curl_easy_cleanup(handle) }
        osmo_curl_multi_cleanup(multi)
    }

    private func start(_ transfer: Transfer) {
        let easy = idle.popLast() ?? osmo_curl_easy_init()!
        transfer.attempt += 1
        if transfer.firstStart == 0 { transfer.firstStart = Clock.now }
        transfer.configure(easy, configuration)
        active[easy] = transfer
        osmo_curl_multi_add_handle(multi, easy)
    }

    private func finished(_ transfer: Transfer, code: CURLcode) {
        let easy = transfer.easy!
        transfer.releaseAttempt()
        osmo_curl_easy_reset(easy)
        idle.append(easy)

        switch transfer.outcome(code: code) {
        case .success(let response):
            transfer.completion(.success(response))
        case .again(let delay):
            if configuration.deadlineSeconds > 0, Clock.now - transfer.firstStart >= Double(configuration.deadlineSeconds) {
                let reason = transfer.lastError.map { ": \($0.message)" } ?? ""
                let final = OsmoError(.io, "\(transfer.request.label): not done within \(configuration.deadlineSeconds) s (OSMO_TRANSFER_DEADLINE_SECONDS)\(reason)")
                transfer.request.sink?.abandon(final)
                transfer.completion(.failure(final))
            } else if transfer.attempt >= (transfer.request.maxAttempts ?? configuration.retry.maxAttempts) && delay != nil {
                let error = transfer.lastError ?? OsmoError(.io, "\(transfer.request.label): giving up")
                let final = OsmoError(error.code, "\(error.message) (after \(transfer.attempt) attempts)", cause: error.cause)
                transfer.request.sink?.abandon(final)
                transfer.completion(.failure(final))
            } else if let delay {
                let wait = configuration.retry.delay(afterAttempt: transfer.attempt, retryAfter: delay > 0 ? delay : nil)
                waiting.append((Clock.now + wait, transfer))
            } else {
                pending.append(transfer)
            }
        case .failure(let error):
            transfer.request.sink?.abandon(error)
            transfer.completion(.failure(error))
        }
    }
}

extension TransferEngine {
    /// A process-wide engine for roles that move data (created on first use).
    public static func shared() throws -> TransferEngine {
        try sharedEngine.withLock { engine in
            if let engine { return engine }
            let created = try TransferEngine(sharedConfiguration.withLock { $0 })
            engine = created
            return created
        }
    }

    private static let sharedEngine = Mutex<TransferEngine?>(nil)

    /// Settings for the shared engine; change them before its first use (ctrl's -dataTimeout).
    public static let sharedConfiguration = Mutex(Configuration())
}
