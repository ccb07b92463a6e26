/// One module of a task's rsync daemon: the `osmo` workspace, or an entry of the rsync plugin's
/// `allowed_paths` (`name:path:writable`). The daemon's config, the service's plugin configs and
/// the CLI's path mapping all speak of it.
public struct RsyncModule: Sendable, Equatable {
    public var name: String
    public var path: String
    public var writable: Bool

    public init(name: String, path: String, writable: Bool) {
        self.name = name
        self.path = path
        self.writable = writable
    }

    /// The reference's default module (`DEFAULT_MODULE_INFO`), as the task sees it.
    public static let workspace = RsyncModule(name: "osmo", path: "/osmo/run/workspace", writable: true)
}
