/// One HTTP exchange for the transfer engine: what to send and where the response body goes.
public struct HTTPRequest: Sendable {
    public var url: String
    public var method: String
    /// Extra header lines, `Name: value`.
    public var headers: [String]
    /// A request body held in memory (object-store parts are bounded, and SigV4 must hash it).
    public var body: [UInt8]?
    /// AWS Signature V4, computed by libcurl (`CURLOPT_AWS_SIGV4`).
    public var signing: AWSSigning?
    /// Receives a 2xx response's body; nil collects it in memory (`HTTPResponse.body`).
    public var sink: (any ResponseSink)?
    /// Label for messages, e.g. the object's URL without credentials.
    public var label: String
    /// A big body is expected: use a large receive buffer (fewer, larger writes). Small objects
    /// keep curl's default, so hundreds of concurrent transfers stay a few MB.
    public var largeBody = false
    /// Every final answer is returned as a response, 4xx included (an API whose error bodies
    /// carry the reason, like the service's token endpoint); 5xx and connection errors are still
    /// retried.
    public var acceptAnyStatus = false
    /// False only for the OSMO service under the operator's opt-out (`ServiceTLS.verify`).
    public var verifyPeer = true
    /// Fewer attempts than the engine's policy, for a caller with its own retry loop (the
    /// service link reconnects with the reference's backoff and reports each failure).
    public var maxAttempts: Int?

    public init(
        url: String, method: String = "GET", headers: [String] = [], body: [UInt8]? = nil,
        signing: AWSSigning? = nil, sink: (any ResponseSink)? = nil, label: String? = nil
    ) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.signing = signing
        self.sink = sink
        self.label = label ?? url
    }
}

/// Credentials and scope for SigV4 (`aws:amz:<region>:<service>`).
public struct AWSSigning: Sendable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    public var region: String
    public var service: String

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, region: String, service: String = "s3") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
        self.service = service
    }
}
