import FoundationEssentials
import OsmoCore
import OsmoProtocol

/// Renders a `PodPlan` as the Kubernetes Pod the OSMO service would create (the wiring of
/// `images/pod-example.yaml`, and of the reference's `src/utils/job/task.py`
/// `convert_to_pod_spec` with `kb_objects.py`'s init and ctrl containers): init container, user
/// container with osmo_exec as its entrypoint, ctrl sidecar with the service flags, the shared
/// volumes, and the four files the service hands the pod as Secrets (refresh token, login,
/// user and service data configs), each mounted by `subPath` where ctrl and init read it.
public enum PodManifest {
    /// A file the pod reads from a Kubernetes Secret.
    public struct SecretFile: Sendable {
        /// The pod's volume name for it.
        public var volume: String
        public var secretName: String
        /// Its key in the Secret, which is also the mount's `subPath`.
        public var key: String
        /// Where ctrl / init read it.
        public var path: String
        /// When set, the Secret itself is rendered before the Pod (base64 `data`); else it must
        /// exist in the namespace already.
        public var content: [UInt8]?
    }

    /// What a cluster needs beyond the task: the service, the images, the secrets' names.
    public struct Deployment: Sendable {
        /// The pod's name; default `<workflow>-<task>` made a valid Kubernetes name.
        public var podName: String?
        /// `http(s)://host[:port]`: ctrl's `-scheme/-host/-port/-refreshScheme`.
        public var serviceURL = Deployment.exampleServiceURL
        /// The init and ctrl images (default: the plan's runtime image, which holds both).
        public var initImage: String?
        public var ctrlImage: String?
        /// Secret names (defaults as in `images/pod-example.yaml`: `<pod>-login`,
        /// `<pod>-user-config`, `osmo-service-config`, `<pod>-refresh-token`).
        public var loginSecret: String?
        public var userConfigSecret: String?
        public var serviceConfigSecret: String?
        public var refreshTokenSecret: String?
        /// Contents to render as Secrets (nil: the secret is expected to exist).
        public var login: [UInt8]?
        public var userConfig: [UInt8]?
        public var serviceConfig: [UInt8]?
        public var refreshToken: [UInt8]?

        public static let exampleServiceURL = "https://osmo.example.com"

        public init() {}
    }

    /// Where the service mounts the files it generates (`task.py`: `OSMO_CONFIG_MOUNT_DIR` `/osmo`,
    /// `REFRESH_TOKEN_FILENAME` `.refresh_token`; init's `/osmo/login.yaml`, `/osmo/user_config.yaml`).
    public static let refreshTokenPath = "/osmo/.refresh_token"
    public static let loginPath = "/osmo/login.yaml"
    /// `OSMO_CONFIG_FILE_DIR` in the user and ctrl containers (`task.py` line 53: the login volume's
    /// `config/`, where init put `login.yaml` and `config.yaml`); the in-task CLI finds its login
    /// and data credentials there.
    public static let configFileDirectory = "/osmo/login/config"

    /// ctrl's service flags for `url` (`task.py` `_ctrl_args`): `-host -port -scheme
    /// -refreshScheme -refreshToken`.
    public static func serviceFlags(_ url: String, refreshToken: String = refreshTokenPath) throws -> [String] {
        let secure: Bool
        if url.hasPrefix("https://") { secure = true } else if url.hasPrefix("http://") { secure = false } else {
            throw OsmoError(.usage, "--service-url takes http(s)://HOST[:PORT], got '\(url)'")
        }
        let authority = url.dropFirst(secure ? 8 : 7).prefix { $0 != "/" }
        var host = String(authority)
        var port = secure ? 443 : 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let given = Int(authority[authority.index(after: colon)...]), (1...65535).contains(given) else {
                throw OsmoError(.usage, "--service-url has a bad port: '\(url)'")
            }
            host = String(authority[..<colon])
            port = given
        }
        guard !host.isEmpty else { throw OsmoError(.usage, "--service-url has no host: '\(url)'") }
        return ["-host", host, "-port", "\(port)", "-scheme", secure ? "wss" : "ws",
                "-refreshScheme", secure ? "https" : "http", "-refreshToken", refreshToken]
    }

    /// A valid Kubernetes name from `text` (`kb_objects.py` `k8s_name`: lower case, `_` → `-`;
    /// and anything else outside `[a-z0-9-]` becomes `-`), at most `limit` characters.
    public static func kubernetesName(_ text: String, limit: Int = 63) -> String {
        let mapped = String(text.lowercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "-" })
        var name = Substring(mapped.prefix(limit))
        while name.first == "-" { name = name.dropFirst() }
        while name.last == "-" { name = name.dropLast() }
        return name.isEmpty ? "task" : String(name)
    }

    /// Checks a name given on the command line (a DNS-1123 subdomain).
    static func check(_ name: String, what: String) throws {
        let valid = !name.isEmpty && name.count <= 253
            && name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" || $0 == "." }
            && name.first!.isASCII && (name.first!.isLowercase || name.first!.isNumber)
            && (name.last!.isLowercase || name.last!.isNumber)
        guard valid else {
            throw OsmoError(.usage, "\(what) '\(name)' is not a Kubernetes name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)")
        }
    }

    /// The files from Secrets and where each container mounts them.
    public static func secretFiles(_ plan: PodPlan, podName: String, _ deployment: Deployment) -> (login: SecretFile, userConfig: SecretFile, serviceConfig: SecretFile, refreshToken: SecretFile) {
        let layout = PodPlan.Layout.cluster
        return (
            SecretFile(volume: "login-config", secretName: deployment.loginSecret ?? "\(podName)-login", key: "login.yaml",
                       path: loginPath, content: deployment.login),
            SecretFile(volume: "user-config", secretName: deployment.userConfigSecret ?? "\(podName)-user-config", key: "user_config.yaml",
                       path: layout.userConfig, content: deployment.userConfig),
            SecretFile(volume: "service-config", secretName: deployment.serviceConfigSecret ?? "osmo-service-config", key: "service_config.yaml",
                       path: layout.serviceConfig, content: deployment.serviceConfig),
            SecretFile(volume: "refresh-token", secretName: deployment.refreshTokenSecret ?? "\(podName)-refresh-token", key: "refresh_token",
                       path: refreshTokenPath, content: deployment.refreshToken))
    }

    /// The manifest: the Secrets given contents, then the Pod. `layout: .local(dir)` renders the
    /// paths `pod run --pod-dir dir` uses, without the service's flags and files (`pod run`
    /// adds its own), so the two can be compared argument for argument.
    public static func yaml(_ plan: PodPlan, layout: PodPlan.Layout = .cluster, deployment: Deployment = Deployment()) throws -> String {
        let cluster = layout.data == PodPlan.Layout.cluster.data
        let name: String
        if let given = deployment.podName {
            try check(given, what: "--name")
            name = given
        } else {
            name = kubernetesName("\(plan.workflow)-\(plan.taskName)", limit: 253)
        }
        let userContainer = kubernetesName(plan.taskName)
        guard userContainer != "osmo-ctrl" else { throw OsmoError(.usage, "the task cannot be named osmo-ctrl (the sidecar's name)") }
        let secrets = secretFiles(plan, podName: name, deployment)
        for file in [secrets.login, secrets.userConfig, secrets.serviceConfig, secrets.refreshToken] {
            try check(file.secretName, what: "secret name")
        }
        let service = cluster ? try serviceFlags(deployment.serviceURL) : []

        func quote(_ text: String) -> String { GoJSON.quote(text) }
        func list(_ items: [String], indent: Int) -> String {
            items.map { String(repeating: " ", count: indent) + "- " + quote($0) }.joined(separator: "\n")
        }
        func mount(_ file: SecretFile) -> String {
            "        - {name: \(file.volume), mountPath: \(file.path), subPath: \(quote(file.key)), readOnly: true}\n"
        }
        func env(_ pairs: [(String, String)]) -> String {
            guard !pairs.isEmpty else { return "" }
            return "      env:\n" + pairs.map { "        - {name: \(quote($0.0)), value: \(quote($0.1))}\n" }.joined()
        }
        var userEnv = plan.environment.compactMap { pair -> (String, String)? in
            guard let equals = pair.firstIndex(of: "=") else { return nil }
            return (String(pair[..<equals]), String(pair[pair.index(after: equals)...]))
        }
        var ctrlEnv: [(String, String)] = []
        if cluster {
            if !userEnv.contains(where: { $0.0 == "OSMO_CONFIG_FILE_DIR" }) { userEnv.append(("OSMO_CONFIG_FILE_DIR", configFileDirectory)) }
            ctrlEnv.append(("OSMO_CONFIG_FILE_DIR", configFileDirectory))
        }

        var text = """
        # Generated by `osmo pod manifest`: the task pod the OSMO service would create for this
        # command (PROTOCOL.md §1–5). `osmo pod run` with the same arguments runs these exact args.

        """
        if cluster {
            let missing = [secrets.login, secrets.userConfig, secrets.serviceConfig, secrets.refreshToken].filter { $0.content == nil }
            text += "# Apply with `kubectl apply -f`"
            text += missing.isEmpty ? ".\n" : "; these secrets must exist first (or give their files to render them here):\n"
            for file in missing { text += "#   \(file.secretName) with the key \(file.key) (\(file.path))\n" }
            for file in [secrets.refreshToken, secrets.login, secrets.userConfig, secrets.serviceConfig] {
                guard let content = file.content else { continue }
                text += """
                apiVersion: v1
                kind: Secret
                metadata:
                  name: \(quote(file.secretName))
                type: Opaque
                data:
                  \(quote(file.key)): \(quote(Data(content).base64EncodedString()))
                ---

                """
            }
        }
        let initImage = deployment.initImage ?? plan.runtimeImage
        let ctrlImage = deployment.ctrlImage ?? plan.runtimeImage
        text += """
        apiVersion: v1
        kind: Pod
        metadata:
          name: \(quote(name))
        spec:
          restartPolicy: Never
          initContainers:
            - name: osmo-init
              image: \(quote(initImage))
              command: ["osmo_init"]
              args:
        \(list(plan.initArguments(layout), indent: 8))
              volumeMounts:
                - {name: osmo, mountPath: /osmo_binaries}
                - {name: osmo-data, mountPath: /osmo/data}
                - {name: osmo-login, mountPath: /osmo/login}
                - {name: osmo-usr-bin, mountPath: /osmo/usr/bin}
                - {name: osmo-run, mountPath: /osmo/run}

        """
        if cluster { text += mount(secrets.login) + mount(secrets.userConfig) }
        text += """
          containers:
            - name: \(quote(userContainer))
              image: \(quote(plan.image))
              command: [\(quote(layout.wrapperExecutable))]
              args:
        \(list(plan.wrapperArguments(layout), indent: 8))
        \(env(userEnv))\
              volumeMounts:
                - {name: osmo, mountPath: /osmo/bin/osmo_exec, subPath: osmo/osmo_exec, readOnly: true}
                - {name: osmo-data, mountPath: /osmo/data/socket, subPath: socket}
                - {name: osmo-data, mountPath: /osmo/data/input, subPath: input}
                - {name: osmo-data, mountPath: /osmo/data/output, subPath: output}
                - {name: osmo-data, mountPath: /osmo/data/benchmarks, subPath: benchmarks}
                - {name: osmo-login, mountPath: /osmo/login/config, subPath: user/config}
                - {name: osmo-usr-bin, mountPath: /osmo/usr/bin, readOnly: true}
                - {name: osmo-run, mountPath: /osmo/run}
            - name: osmo-ctrl
              image: \(quote(ctrlImage))
              command: [\(quote(layout.ctrlExecutable))]
              args:
        \(list(plan.ctrlArguments(layout, service: service), indent: 8))
        \(env(ctrlEnv))\
              volumeMounts:
                - {name: osmo, mountPath: /osmo/bin/osmo_ctrl, subPath: osmo/osmo_ctrl, readOnly: true}
                - {name: osmo-data, mountPath: /osmo/data/socket, subPath: socket}
                - {name: osmo-data, mountPath: /osmo/data/benchmarks, subPath: benchmarks}
                - {name: osmo-data, mountPath: /osmo/data/input, subPath: input}
                - {name: osmo-data, mountPath: /osmo/data/output, subPath: output, readOnly: true}
                - {name: osmo-login, mountPath: /osmo/login/config, subPath: ctrl/config}

        """
        if cluster { text += mount(secrets.refreshToken) + mount(secrets.serviceConfig) + mount(secrets.userConfig) }
        text += """
          volumes:
            - {name: osmo, emptyDir: {}}
            - {name: osmo-data, emptyDir: {}}
            - {name: osmo-login, emptyDir: {}}
            - {name: osmo-usr-bin, emptyDir: {}}
            - {name: osmo-run, emptyDir: {}}

        """
        if cluster {
            for file in [secrets.login, secrets.userConfig, secrets.serviceConfig, secrets.refreshToken] {
                text += "    - {name: \(file.volume), secret: {secretName: \(quote(file.secretName))}}\n"
            }
        }
        return text
    }
}
