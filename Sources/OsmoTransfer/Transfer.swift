import COsmoCurl
import Glibc
import OsmoCore
import OsmoSystem

/// One request's life inside the engine: its curl settings, what came back in the current
/// attempt, and the decision after each attempt.
final class Transfer: @unchecked Sendable {
    enum Outcome {
        case success(HTTPResponse)
        /// Try again: after a backoff (`delay` = 0 → policy default, > 0 → server's Retry-After),
        /// or at once (`nil`: the sink restarted from zero).
        case again(delay: Double?)
        case failure(OsmoError)
    }

    var request: HTTPRequest
    let completion: @Sendable (Result<HTTPResponse, OsmoError>) -> Void
    let sinkID: ObjectIdentifier?
    var attempt = 0
    /// When the first attempt started (for the per-object deadline).
    var firstStart: Double = 0
    var easy: UnsafeMutableRawPointer?
    var paused = false
    var lastError: OsmoError?
    private var restarts = 0

    // Per attempt.
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var resolveList: UnsafeMutablePointer<curl_slist>?
    private var status = 0
    private var headers: [String: String] = [:]
    private var memory: [UInt8] = []
    private var began = false
    private var requestedOffset: Int64 = 0
    private var sinkError: OsmoError?
    private var restartRequested = false
    /// curl writes its detailed message here; it must stay put for the handle's lifetime.
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    init(request: HTTPRequest, completion: @escaping @Sendable (Result<HTTPResponse, OsmoError>) -> Void) {
        self.request = request
        self.completion = completion
        self.sinkID = request.sink.map { ObjectIdentifier($0) }
        errorBuffer[0] = 0
    }

    deinit { errorBuffer.deallocate() }

    func configure(_ easy: UnsafeMutableRawPointer, _ configuration: TransferEngine.Configuration) {
        self.easy = easy
        status = 0
        headers = [:]
        memory = []
        began = false
        sinkError = nil
        restartRequested = false
        paused = false
        errorBuffer[0] = 0

        let context = Unmanaged.passUnretained(self).toOpaque()
        osmo_curl_setopt_ptr(easy, CURLOPT_URL, request.url)
        osmo_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        osmo_curl_setopt_long(easy, CURLOPT_FOLLOWLOCATION, request.signing == nil ? 1 : 0)
        osmo_curl_setopt_long(easy, CURLOPT_MAXREDIRS, 10)
        osmo_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT, configuration.connectTimeoutSeconds)
        osmo_curl_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, max(configuration.minimumSpeed, 1))
        osmo_curl_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, configuration.stallSeconds)
        if configuration.deadlineSeconds > 0 {
            // This attempt gets what is left of the object's deadline.
            let left = Double(configuration.deadlineSeconds) - (Clock.now - firstStart)
            osmo_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, max(Int(left * 1000), 1))
        }
        osmo_curl_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        if request.largeBody { osmo_curl_setopt_long(easy, CURLOPT_BUFFERSIZE, 512 * 1024) }
        osmo_curl_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
        osmo_curl_setopt_ptr(easy, CURLOPT_USERAGENT, "osmo/0.1")
        osmo_curl_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer)
        if let ca = configuration.caBundle { osmo_curl_setopt_ptr(easy, CURLOPT_CAINFO, ca) }
        if !configuration.verifyTLS || !request.verifyPeer {
            osmo_curl_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 0)
            osmo_curl_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 0)
        }
        if !configuration.resolve.isEmpty {
            for entry in configuration.resolve { resolveList = osmo_curl_slist_append(resolveList, entry) }
            osmo_curl_setopt_ptr(easy, CURLOPT_RESOLVE, resolveList)
        }
        osmo_curl_setopt_ptr(easy, CURLOPT_PRIVATE, context)
        osmo_curl_setopt_write(easy, transferWrite)
        osmo_curl_setopt_ptr(easy, CURLOPT_WRITEDATA, context)
        osmo_curl_setopt_header(easy, transferHeader)
        osmo_curl_setopt_ptr(easy, CURLOPT_HEADERDATA, context)

        var lines = request.headers
        requestedOffset = request.sink?.offset ?? 0
        if requestedOffset > 0 { lines.append("Range: bytes=\(requestedOffset)-") }
        switch request.method {
        case "GET": osmo_curl_setopt_long(easy, CURLOPT_HTTPGET, 1)
        case "HEAD": osmo_curl_setopt_long(easy, CURLOPT_NOBODY, 1)
        default: osmo_curl_setopt_ptr(easy, CURLOPT_CUSTOMREQUEST, request.method)
        }
        if let body = request.body {
            // In memory and copied by curl, so SigV4 can hash it (curl 7.88 only hashes POSTFIELDS).
            osmo_curl_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            body.withUnsafeBytes { raw in
                _ = osmo_curl_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
            }
            if !lines.contains(where: { $0.lowercased().hasPrefix("content-type:") }) {
                lines.append("Content-Type: application/octet-stream")
            }
            // No 100-continue round trip, except for signed requests: libcurl 7.88 lists a
            // blanked `Expect` among the signed headers without sending it (curl#11664).
            if request.signing == nil { lines.append("Expect:") }
        }
        if let signing = request.signing {
            osmo_curl_setopt_ptr(easy, CURLOPT_AWS_SIGV4, "aws:amz:\(signing.region):\(signing.service)")
            osmo_curl_setopt_ptr(easy, CURLOPT_USERPWD, "\(signing.accessKeyID):\(signing.secretAccessKey)")
            // libcurl 7.88 signs the payload hash but does not send it; S3 requires the header.
            let hash = request.body.map { Digest.sha256Hex($0) ?? "UNSIGNED-PAYLOAD" } ?? Digest.emptySHA256
            lines.append("x-amz-content-sha256: \(hash)")
            if let token = signing.sessionToken { lines.append("x-amz-security-token: \(token)") }
        }
        for line in lines { headerList = osmo_curl_slist_append(headerList, line) }
        if let headerList { osmo_curl_setopt_ptr(easy, CURLOPT_HTTPHEADER, headerList) }
    }

    func releaseAttempt() {
        if let headerList { osmo_curl_slist_free_all(headerList) }
        headerList = nil
        if let resolveList { osmo_curl_slist_free_all(resolveList) }
        resolveList = nil
    }

    // MARK: Callbacks (engine thread)

    fileprivate func header(_ line: String) {
        if line.hasPrefix("HTTP/") {
            let parts = line.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers = [:]
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingSpaces()
    }

    fileprivate func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let sink = request.sink, (200...299).contains(status) else {
            if memory.count < 1 << 26 { memory.append(contentsOf: bytes) }
            return bytes.count
        }
        if !began {
            began = true
            switch sink.begin(HTTPResponse(status: status, headers: headers), requestedOffset: requestedOffset) {
            case .accept: break
            case .restart: restartRequested = true; return 0
            case .fail(let error): sinkError = error; return 0
            }
        }
        switch sink.write(bytes) {
        case .accepted: return bytes.count
        case .pause: paused = true; return Int(CURL_WRITEFUNC_PAUSE)
        case .fail(let error): sinkError = error; return 0
        }
    }

    // MARK: After an attempt

    func outcome(code: CURLcode) -> Outcome {
        if let sinkError { return .failure(sinkError) }
        if restartRequested {
            restarts += 1
            return restarts > 3 ? .failure(OsmoError(.io, "\(request.label) keeps changing while it downloads")) : .again(delay: nil)
        }
        if code != CURLE_OK {
            let detail = String(cString: errorBuffer)
            let reason = detail.isEmpty ? String(cString: osmo_curl_easy_strerror(code)) : detail
            let error = OsmoError(.io, "\(request.label): \(reason)")
            lastError = error
            return Transfer.isRetryable(code) ? .again(delay: 0) : .failure(error)
        }
        let response = HTTPResponse(status: status, headers: headers, body: memory)
        if (200...299).contains(status) {
            if let sink = request.sink {
                do {
                    if !began, case .fail(let error) = sink.begin(response, requestedOffset: requestedOffset) { return .failure(error) }
                    try sink.finish(response)
                } catch let error as OsmoError {
                    return .failure(error)
                } catch {
                    return .failure(OsmoError(.io, "\(request.label): \(error)"))
                }
            }
            return .success(response)
        }
        if status == 416, requestedOffset > 0, let sink = request.sink {
            // What we hold is not a prefix of the object any more: start over.
            _ = sink.begin(HTTPResponse(status: 200, headers: [:]), requestedOffset: -1)
            return .again(delay: nil)
        }
        if request.acceptAnyStatus, request.sink == nil, !RetryPolicy.isRetryable(status: status) { return .success(response) }
        let error = TransferError.http(status: status, label: request.label, method: request.method, body: response.bodyText)
        lastError = error
        if RetryPolicy.isRetryable(status: status) {
            let retryAfter = response[header: "retry-after"].flatMap { Double($0.trimmingSpaces()) }
            return .again(delay: retryAfter ?? 0)
        }
        return .failure(error)
    }

    static func isRetryable(_ code: CURLcode) -> Bool {
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_OPERATION_TIMEDOUT, CURLE_RECV_ERROR,
             CURLE_SEND_ERROR, CURLE_PARTIAL_FILE, CURLE_GOT_NOTHING, CURLE_SSL_CONNECT_ERROR, CURLE_HTTP2,
             CURLE_HTTP2_STREAM, CURLE_WEIRD_SERVER_REPLY, CURLE_READ_ERROR:
            return true
        default:
            return false
        }
    }
}

private let transferWrite: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    data, size, count, context in
    let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
    return transfer.receive(UnsafeRawBufferPointer(start: data, count: size * count))
}

private let transferHeader: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    data, size, count, context in
    let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
    transfer.header(line.trimmingSpaces())
    return size * count
}
