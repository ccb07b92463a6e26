/// The roles one `osmo` binary plays, and the program names that select them.
public enum Role: String, CaseIterable, Sendable {
    case initialize = "init"
    case ctrl
    case user
    case data
    case pod
    case service
    case exec
    case portForward = "port-forward"
    case workflow

    /// Program names (argv[0] basenames) that run a role directly. `osmo_exec` is the name the
    /// OSMO service gives the wrapper in every pod spec; the dashed forms are ours.
    public static let programNames: [String: Role] = [
        "osmo-init": .initialize, "osmo_init": .initialize,
        "osmo_exec": .user, "osmo-user": .user, "osmo_user": .user,
        "osmo-data": .data,
        "osmo-ctrl": .ctrl, "osmo_ctrl": .ctrl,
    ]

    public var summary: String {
        switch self {
        case .initialize: "prepare the pod's shared volumes and install osmo (init container)"
        case .ctrl: "the sidecar: inputs, the command's log, outputs, over the shared socket (osmo_ctrl)"
        case .user: "run the user's command as the container entrypoint, relaying it to osmo-ctrl (osmo_exec)"
        case .pod: "run a task pod on this machine (osmo pod run -- CMD), or print its Kubernetes manifest"
        case .data: "download, upload, list and check datasets (s3, gs, tos, swift, azure, http, file)"
        case .service: "serve the OSMO service endpoints ctrl and the CLI use, locally (token, logs, barriers, router)"
        case .exec: "open a shell (or run a command) in a running task: osmo exec WF TASK [-- CMD ARGS…]"
        case .portForward: "forward local ports to a running task's ports (TCP or UDP)"
        case .workflow: "the reference CLI's forms: osmo workflow exec|port-forward …"
        }
    }

    /// The program names of this role.
    public var aliases: [String] {
        Self.programNames.filter { $0.value == self }.keys.sorted()
    }

    public static var validNames: String {
        allCases.map(\.rawValue).joined(separator: ", ")
    }

    /// ": did you mean `data`?" for a mistyped role or program name, or "".
    static func suggestion(for word: String) -> String {
        let suggestions = Spelling.nearest(word, among: allCases.map(\.rawValue))
        return suggestions.isEmpty ? "" : ": did you mean \(Spelling.list(suggestions))?"
    }
}
