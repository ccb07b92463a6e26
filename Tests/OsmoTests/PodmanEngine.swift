import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// podman and buildah on a private store under one scratch directory (issue 13 §3): its own
/// `CONTAINERS_CONF` and `CONTAINERS_STORAGE_CONF`, so nothing under /etc or /var/lib/containers
/// is read for settings or changed (`Tests/Servers/podman_images.sh store`: the settings podman
/// 4.3.1 needs on these machines, cgroup v1 in a VM without systemd: runc, cgroupfs, a file
/// events log, raised ulimits, host networking). Every engine command runs under `timeout(1)`;
/// releasing the value removes every pod, container and image of the store, unmounts what is
/// left, and the scratch directory goes with it.
final class PodmanEngine {
    let scratch = Scratch("osmo-podman")
    let environment: [String]
    private var built: Set<String> = []
    static let searchPath = String(cString: getenv("PATH") ?? strdup("/usr/bin:/bin"))
    static let podman = ExecutableLocation.search("podman", path: searchPath)
    static let buildah = ExecutableLocation.search("buildah", path: searchPath)
    static let runc = ExecutableLocation.search("runc", path: searchPath)
    static let timeout = ExecutableLocation.search("timeout", path: searchPath) ?? "/usr/bin/timeout"
    static var installed: Bool { podman != nil && buildah != nil && runc != nil }

    init() throws {
        try #require(Self.installed, "podman, buildah and runc are needed (scripts/setup.sh installs them)")
        let store = try Shell.run(ServerScripts.path("podman_images.sh"), ["store", scratch.path])
        try #require(store.status == 0, "podman_images.sh store: \(store.stderr)")
        environment = ChildProcess.currentEnvironment.filter { !$0.hasPrefix("CONTAINERS_") && !$0.hasPrefix("REGISTRY_AUTH_FILE=") }
            + ["CONTAINERS_CONF=\(scratch.at("containers.conf"))", "CONTAINERS_STORAGE_CONF=\(scratch.at("storage.conf"))",
               "REGISTRY_AUTH_FILE=\(scratch.at("auth.json"))", "TMPDIR=\(scratch.path)"]
    }

    deinit {
        for arguments in [["pod", "rm", "--all", "--force", "--time", "0"], ["rm", "--all", "--force", "--time", "0"], ["rmi", "--all", "--force"]] {
            _ = try? podman(arguments, timeout: 60)
        }
        // Whatever the store still has mounted (a container that could not be removed).
        let mounts = text(of: "/proc/self/mountinfo").lines.compactMap { line -> String? in
            let fields = line.split(separator: " ")
            return fields.count > 4 && fields[4].hasPrefix(scratch.path) ? String(fields[4]) : nil
        }
        for mount in mounts.reversed() { _ = try? Shell.run("/bin/umount", ["--lazy", mount]) }
    }

    /// `podman ARGS…`, killed after `timeout` seconds (scaled): exit 124 then.
    func podman(_ arguments: [String], timeout: Double) throws -> Finished {
        try run(try #require(Self.podman), arguments, timeout: timeout)
    }

    /// `program ARGS…` with the store's environment, under `timeout(1)`.
    func run(_ program: String, _ arguments: [String], timeout: Double) throws -> Finished {
        let seconds = String(Int(patience(timeout).rounded(.up)))
        return try Shell.run(Self.timeout, ["--kill-after=10", seconds, program] + arguments, environment: environment)
    }

    /// Builds `image` with `Tests/Servers/podman_images.sh KIND… image` (buildah, from scratch),
    /// once per engine.
    func image(_ image: String, _ arguments: [String]) throws {
        guard !built.contains(image) else { return }
        let result = try run(ServerScripts.path("podman_images.sh"), arguments + [image], timeout: 300)
        try #require(result.status == 0, "podman_images.sh \((arguments + [image]).joined(separator: " ")): \(result.stdout)\(result.stderr)")
        built.insert(image)
    }

    /// `podman wait` on one container, bounded: its exit code, or nil when it did not end in time.
    func wait(_ container: String, timeout: Double) throws -> Int32? {
        let result = try podman(["wait", container], timeout: timeout)
        guard result.status == 0 else { return nil }
        return Int32(result.stdout.trimmingSpaces())
    }

    func logs(_ container: String) -> String {
        guard let result = try? podman(["logs", container], timeout: 30) else { return "" }
        return result.stdout + result.stderr
    }
}
