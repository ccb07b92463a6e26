import OsmoCore
import OsmoSystem

/// What ctrl was told to do (the reference's flags, PROTOCOL.md §3).
public struct CtrlOptions: Sendable {
    public var inputs: [InputSpec] = []
    public var outputs: [OutputSpec] = []
    public var workflow = ""
    public var groupName = ""
    public var retryID = "0"
    public var logSource = ""
    public var barrier = ""
    public var socketPath = ""
    public var inputPath = ""
    public var outputPath = ""
    public var userConfig = "/osmo/user_config.yaml"
    public var serviceConfig = "/osmo/service_config.yaml"
    public var unixTimeoutMinutes = 120
    /// Seconds between "still waiting for osmo_exec" lines while the wrapper has not connected
    /// (`OSMO_CTRL_WAIT_NOTICE_SECONDS`), so a user container that never started is visible in
    /// ctrl's log instead of a silent `-unixTimeout`.
    public var waitNoticeSeconds = 30.0
    public var dataTimeoutMinutes = 10
    /// JSON-lines copy of every log record (ours).
    public var logFile = ""
    /// How long after SIGTERM ctrl keeps relaying while the command winds down.
    public var terminationGraceSeconds = 20.0
    /// The OSMO service, or nil to run without one (logs to stdout and the JSON-lines file only).
    public var service: ServiceOptions?
    /// Which inputs' archives are extracted (all by default).
    public var archives = ArchivePolicy.extractAll
    /// Minutes a requested exec session may take to dial back.
    public var execTimeoutMinutes = 5

    public init() {}
}

/// How to reach the OSMO service (`-scheme -host -port -refreshToken -refreshScheme -tokenHeader
/// -timeout -logsBufferSize`).
public struct ServiceOptions: Sendable {
    public var scheme = "ws"
    public var host = "localhost"
    public var port = 8000
    public var refreshTokenFile = "/osmo/.refresh_token"
    public var refreshScheme = "http"
    /// nil: by the service's generation (`TokenSource`).
    public var tokenHeader: String?
    public var timeoutMinutes = 60
    public var logsBufferSize = 10000
    /// How often ctrl re-sends its barrier request while waiting (the reference: 5 minutes).
    public var barrierResendSeconds = 300.0
    /// How long ctrl waits at exit for the service to acknowledge every log line.
    public var flushSeconds = 60.0

    public init() {}
}

/// `task:<folder>,<url>,<regex>` (service credentials) or `url:<folder>,<url>,<regex>` (the
/// user's, READ-checked first). Lands in `<inputPath>/<folder>/`.
public struct InputSpec: Sendable, Equatable {
    public var folder: String
    public var url: String
    public var regex: String
    public var userCredentials: Bool

    /// The URL's last element (progress labels).
    public var name: String { url.split(separator: "/").last.map(String.init) ?? url }
    /// How the reference's log lines name it (`GetLogInfo`): a `task:` input by its last
    /// element, a user's `url:` input by its whole URL.
    public var logName: String { userCredentials ? url : InputSpec.afterLastSlash(url) }

    /// The reference's `url[strings.LastIndex(url, "/")+1:]`: empty after a trailing slash.
    static func afterLastSlash(_ url: String) -> String {
        url.lastIndex(of: "/").map { String(url[url.index(after: $0)...]) } ?? url
    }

    public init(folder: String, url: String, regex: String = "", userCredentials: Bool = false) {
        self.folder = folder
        self.url = url
        self.regex = regex
        self.userCredentials = userCredentials
    }

    public init(parsing text: String) throws {
        guard let colon = text.firstIndex(of: ":") else { throw InputSpec.invalid(text, "expected task:… or url:…") }
        let kind = text[..<colon]
        if kind == "dataset" { throw InputSpec.datasetUnsupported(text) }
        guard kind == "task" || kind == "url" else { throw InputSpec.invalid(text, "unknown kind '\(kind)'") }
        let parts = text[text.index(after: colon)...].split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw InputSpec.invalid(text, "expected \(kind):<folder>,<url>,<regex>") }
        guard !parts[0].isEmpty, !parts[0].contains("/"), parts[0] != "..", parts[0] != "." else {
            throw InputSpec.invalid(text, "bad folder '\(parts[0])'")
        }
        guard !parts[1].isEmpty else { throw InputSpec.invalid(text, "no URL") }
        self.init(folder: String(parts[0]), url: String(parts[1]), regex: String(parts[2]), userCredentials: kind == "url")
    }

    static func invalid(_ text: String, _ reason: String) -> OsmoError {
        OsmoError(.invalidInput, "invalid spec '\(text)': \(reason)")
    }

    /// `dataset:` specs (services up to 6.3) name datasets of the OSMO dataset service, which
    /// this runtime does not resolve: a clear refusal (code 30) instead of a parse error.
    static func datasetUnsupported(_ text: String) -> OsmoError {
        OsmoError(.invalidInput, "unsupported spec '\(text)': dataset inputs and outputs need the OSMO dataset service, which this runtime does not resolve; give the task the dataset's storage location as a url: input (or output) instead")
    }
}

/// `task:<url>` (the output dir, service credentials), `url:<url>,<regex>` (the user's,
/// WRITE-checked first) or `kpi:<url>,<path>` (one file of the output dir).
public struct OutputSpec: Sendable, Equatable {
    public enum Kind: String, Sendable { case task, url, kpi }
    public var kind: Kind
    public var url: String
    public var regex: String
    public var path: String

    public var name: String { url.split(separator: "/").last.map(String.init) ?? url }
    /// As the reference's lines name it: `task:` by the last element, `url:` by the whole URL,
    /// `kpi:` as `KPI: <path>`.
    public var logName: String {
        switch kind {
        case .task: InputSpec.afterLastSlash(url)
        case .url: url
        case .kpi: "KPI: \(path)"
        }
    }

    public init(kind: Kind, url: String, regex: String = "", path: String = "") {
        self.kind = kind
        self.url = url
        self.regex = regex
        self.path = path
    }

    public init(parsing text: String) throws {
        if text.hasPrefix("dataset:") || text.hasPrefix("update_dataset:") { throw InputSpec.datasetUnsupported(text) }
        guard let colon = text.firstIndex(of: ":"), let kind = Kind(rawValue: String(text[..<colon])) else {
            throw InputSpec.invalid(text, "expected task:…, url:… or kpi:…")
        }
        let rest = text[text.index(after: colon)...]
        switch kind {
        case .task:
            guard !rest.isEmpty else { throw InputSpec.invalid(text, "no URL") }
            self.init(kind: .task, url: String(rest))
        case .url:
            let parts = rest.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else { throw InputSpec.invalid(text, "expected url:<url>,<regex>") }
            self.init(kind: .url, url: String(parts[0]), regex: String(parts[1]))
        case .kpi:
            let parts = rest.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw InputSpec.invalid(text, "expected kpi:<url>,<path>") }
            self.init(kind: .kpi, url: String(parts[0]), path: String(parts[1]))
        }
    }
}
