/// Every exit status an osmo role can end with, in one place.
///
/// The ctrl codes are the reference runtime's table (PROTOCOL.md §3): the service reads them from
/// `/dev/termination-log` and adds 2000. The CLI codes follow Unix conventions.
public enum ExitCode: Int32, Sendable, CaseIterable {
    case success = 0
    /// init could not prepare the volumes (`Error initializing OSMO: …`).
    case initFailed = 1
    /// Bad command line: unknown role, flag or value.
    case usage = 2

    // MARK: ctrl (reference table)
    case downloadFailed = 10
    case uploadFailed = 12
    case dataAuthCheckFailed = 13
    case dataUnauthorized = 14
    case tokenInvalid = 20
    case websocketTimeout = 21
    case websocketMessageFailed = 22
    case unixMessageFailed = 23
    case barrierFailed = 24
    case metricsFailed = 25
    case invalidInput = 30
    case commandFailed = 31
    case fileFailed = 32
    case misc = 40

    // MARK: wrapper
    /// osmo-ctrl could not be reached within `-unixTimeout`, or went away while the command ran
    /// (`EX_UNAVAILABLE`).
    case ctrlUnavailable = 69
    /// The user command could not be started (not found, not executable): the shell convention.
    case commandNotFound = 127
    case commandNotExecutable = 126

    /// The ctrl code for an error's kind.
    public static func forCtrl(_ code: OsmoError.Code) -> ExitCode {
        switch code {
        case .download: .downloadFailed
        case .upload: .uploadFailed
        case .dataAuth: .dataAuthCheckFailed
        case .unauthorized: .dataUnauthorized
        case .invalidInput, .usage: .invalidInput
        case .command: .commandFailed
        case .io: .fileFailed
        case .protocolViolation: .unixMessageFailed
        default: .misc
        }
    }

    /// The code of a failed data transfer (`osmo data`, ctrl's inputs and outputs): bad input
    /// is 30 in ctrl and a usage error (2) in the CLI, a refused credential 14, else the
    /// direction's failure code.
    public static func forTransfer(_ code: OsmoError.Code, upload: Bool, cli: Bool) -> ExitCode {
        switch code {
        case .invalidInput, .usage: cli ? .usage : .invalidInput
        case .unauthorized: .dataUnauthorized
        default: upload ? .uploadFailed : .downloadFailed
        }
    }

    /// Exit status of a child that ended by a signal: 128 + signal (the shell's convention).
    public static func status(signal: Int32) -> Int32 { 128 + signal }
}
