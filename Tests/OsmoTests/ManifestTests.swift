import FoundationEssentials
import Glibc
@testable import OsmoCommands
import OsmoCore
import OsmoSystem
import Testing

/// Issue 12 §10: `osmo pod manifest` deploys as generated. The Pod is wired as
/// `images/pod-example.yaml` (service flags, the four secrets and their mounts), passes
/// `kubernetes-validate --strict` for the newest and the oldest Kubernetes it bundles, and what
/// it names is what `osmo` accepts.
@Suite struct ManifestTests {
    struct Document: Decodable {
        var kind: String
        var metadata: Metadata
        var spec: Spec?
        var data: [String: String]?
        var type: String?
    }
    struct Metadata: Decodable { var name: String }
    struct Spec: Decodable {
        var initContainers: [Container]
        var containers: [Container]
        var volumes: [Volume]
    }
    struct Container: Decodable {
        var name: String
        var image: String
        var command: [String]
        var args: [String]
        var env: [Env]?
        var volumeMounts: [Mount]
    }
    struct Env: Decodable, Hashable { var name: String; var value: String? }
    struct Mount: Decodable, Hashable {
        var name: String
        var mountPath: String
        var subPath: String?
        var readOnly: Bool?
    }
    struct Volume: Decodable, Hashable {
        struct Secret: Decodable, Hashable { var secretName: String }
        var name: String
        var secret: Secret?
    }

    /// All YAML documents of `text`, through PyYAML.
    static func documents(_ text: String) throws -> [Document] {
        let json = try Shell.run("/usr/bin/env", ["python3", "-c", "import json,sys,yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))"], stdin: text)
        try #require(json.status == 0, "\(json.stderr)")
        return try JSONDecoder().decode([Document].self, from: Data(json.stdout.utf8))
    }

    static func pod(_ documents: [Document]) throws -> (name: String, spec: Spec) {
        let pod = try #require(documents.first { $0.kind == "Pod" })
        return (pod.metadata.name, try #require(pod.spec))
    }

    /// The example's task, rendered by `osmo pod manifest`.
    static let exampleArguments = [
        "pod", "manifest", "--name", "my-workflow-task-1", "--workflow", "my-workflow", "--task", "task-1", "--group", "group-1",
        "--image", "python:3.12-slim", "--service-url", "https://osmo.example.com",
        "--input", "s3://my-bucket/datasets/mnist/", "--output", "s3://my-bucket/workflows/my-workflow/task-1/",
        "--", "python3", "-c", "import os; print(sorted(os.listdir('{{input:0}}')))",
    ]

    static func render(_ arguments: [String] = exampleArguments) throws -> String {
        let result = try Shell.run(OsmoBinary.path, arguments)
        try #require(result.status == 0, "\(result.stderr)")
        return result.stdout
    }

    /// Every mount, volume, secret reference, image, service flag and the config directory are
    /// the example's; the commands' arguments parse as osmo's roles read them.
    @Test func wiringIsThePodExamples() throws {
        let example = try Self.pod(try Self.documents(try FileSystem.readText(Path.join(BundleTests.packageRoot, "images/pod-example.yaml"))))
        let generated = try Self.pod(try Self.documents(try Self.render()))
        #expect(generated.name == example.name)
        #expect(Set(generated.spec.volumes) == Set(example.spec.volumes))
        let pairs = [(generated.spec.initContainers[0], example.spec.initContainers[0])]
            + zip(generated.spec.containers, example.spec.containers).map { ($0, $1) }
        #expect(generated.spec.containers.map(\.name) == example.spec.containers.map(\.name))
        for (ours, theirs) in pairs {
            #expect(Set(ours.volumeMounts) == Set(theirs.volumeMounts), "\(ours.name)")
            #expect(ours.command == theirs.command && ours.image == theirs.image, "\(ours.name)")
            let config = Env(name: "OSMO_CONFIG_FILE_DIR", value: "/osmo/login/config")
            #expect((ours.env ?? []).contains(config) == (theirs.env ?? []).contains(config), "\(ours.name)")
        }

        // ctrl: the example's service flags and files, parsed as ctrl parses them.
        let ours = try #require(generated.spec.containers.first { $0.name == "osmo-ctrl" })
        let theirs = try #require(example.spec.containers.first { $0.name == "osmo-ctrl" })
        var ourFlags = CtrlFlags.spec(), theirFlags = CtrlFlags.spec()
        try ourFlags.parse(ours.args)
        try theirFlags.parse(theirs.args)
        for name in ["scheme", "host", "refreshScheme", "refreshToken", "serviceConfig", "userConfig", "socketPath", "inputPath", "outputPath", "workflow", "groupName", "retryId", "logSource"] {
            #expect(ourFlags.string(name) == theirFlags.string(name), "-\(name)")
        }
        #expect(ourFlags.int("port") == theirFlags.int("port"))
        #expect(ourFlags.list("inputs") == theirFlags.list("inputs") && ourFlags.list("outputs") == theirFlags.list("outputs"))
        #expect(ourFlags.isSet("host"), "the service flags are given, not defaulted")

        // init and the wrapper read what the example gives them.
        let initOptions = try InitCommand.parse(generated.spec.initContainers[0].args).options
        #expect(initOptions == (try InitCommand.parse(example.spec.initContainers[0].args)).options)
        let user = generated.spec.containers[0]
        var userFlags = UserCommand.flags(program: "osmo_exec")
        try userFlags.parse(user.args)
        #expect(UserCommand.options(from: userFlags).command == ["python3", "-c", "import os; print(sorted(os.listdir('/osmo/data/input/0')))"])
    }

    /// The versions kubernetes-validate bundles (`vX.Y.Z-local-strict` schema folders).
    static func bundledKubernetesVersions() throws -> [String] {
        let listing = try Shell.run("/usr/bin/env", ["python3", "-c", """
            import os, kubernetes_validate
            root = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema")
            names = [n[1:-len("-local-strict")] for n in os.listdir(root) if n.endswith("-local-strict")]
            print("\\n".join(sorted(names, key=lambda v: tuple(int(p) for p in v.split(".")))))
            """])
        try #require(listing.status == 0, "kubernetes-validate is not installed (scripts/setup.sh installs it): \(listing.stderr)")
        return listing.stdout.split(separator: "\n").map(String.init)
    }

    static func validate(_ manifest: String, _ scratch: Scratch) throws -> [(version: String, result: Finished)] {
        let versions = try bundledKubernetesVersions()
        let newest = try #require(versions.last), oldest = try #require(versions.first)
        try scratch.write("manifest.yaml", manifest)
        return try [newest, oldest].map { version in
            (version, try Shell.run("/usr/bin/env", ["kubernetes-validate", "--strict", "--kubernetes-version", version, scratch.at("manifest.yaml")]))
        }
    }

    /// Strict schema validation (no field Kubernetes does not know), newest and oldest
    /// bundled minor; plus what the schemas cannot see: every mount names a volume, no path is
    /// mounted twice in a container, names are DNS labels.
    @Test(arguments: [
        [String](),
        ["--refresh-token-file", "TOKEN", "--login-file", "LOGIN", "--user-config-file", "USER", "--service-config-file", "SERVICE"],
        ["--env", "A=1", "--checkpoint", "/osmo/data/output;s3://b/ckpt;60;.*", "--barrier", "ready", "--service-url", "http://osmo.internal:8080",
         "--init-image", "registry.local/osmo-init:1", "--ctrl-image", "registry.local/osmo-ctrl:1", "--login-secret", "shared-login"],
    ])
    func validatesStrictlyForNewestAndOldestKubernetes(extra: [String]) throws {
        let scratch = Scratch()
        for (name, text) in [("TOKEN", "refresh-\(getpid())\n"), ("LOGIN", "url: https://osmo.example.com\n"), ("USER", "auth: {}\n"), ("SERVICE", "auth: {}\n")] {
            try scratch.write(name, text)
        }
        let resolved = extra.map { ["TOKEN", "LOGIN", "USER", "SERVICE"].contains($0) ? scratch.at($0) : $0 }
        let arguments = Array(Self.exampleArguments.prefix { $0 != "--" }) + resolved + Array(Self.exampleArguments.drop { $0 != "--" })
        let manifest = try Self.render(arguments)
        for (version, result) in try Self.validate(manifest, scratch) {
            #expect(result.status == 0, "Kubernetes \(version): \(result.stdout) \(result.stderr)")
            #expect(result.stdout.contains("passed for resource pod/my-workflow-task-1 against version"), "\(result.stdout)")
        }
        let documents = try Self.documents(manifest)
        let (_, spec) = try Self.pod(documents)
        let volumes = Set(spec.volumes.map(\.name))
        for container in spec.initContainers + spec.containers {
            #expect(container.name.count <= 63 && container.name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" })
            for mount in container.volumeMounts { #expect(volumes.contains(mount.name), "\(container.name): \(mount.name)") }
            #expect(Set(container.volumeMounts.map(\.mountPath)).count == container.volumeMounts.count, "\(container.name)")
        }
        // Each rendered Secret holds its file under the key its volume mounts.
        let secrets = documents.filter { $0.kind == "Secret" }
        #expect(secrets.count == (extra.contains("--login-file") ? 4 : 0))
        for secret in secrets {
            let (key, value) = try #require(secret.data?.first)
            let volume = try #require(spec.volumes.first { $0.secret?.secretName == secret.metadata.name })
            let mounts = (spec.initContainers + spec.containers).flatMap(\.volumeMounts).filter { $0.name == volume.name }
            #expect(!mounts.isEmpty && mounts.allSatisfy { $0.subPath == key && $0.readOnly == true })
            let content = try #require(Data(base64Encoded: value))
            let file = ["refresh_token": "TOKEN", "login.yaml": "LOGIN", "user_config.yaml": "USER", "service_config.yaml": "SERVICE"][key]
            #expect(String(decoding: content, as: UTF8.self) == text(of: scratch.at(try #require(file))))
        }
        if extra.contains("--service-url") {
            let ctrl = try #require(spec.containers.first { $0.name == "osmo-ctrl" })
            var flags = CtrlFlags.spec()
            try flags.parse(ctrl.args)
            #expect(flags.string("scheme") == "ws" && flags.string("host") == "osmo.internal" && flags.int("port") == 8080 && flags.string("refreshScheme") == "http")
            #expect(flags.string("barrier") == "ready")
            #expect(ctrl.image == "registry.local/osmo-ctrl:1" && spec.initContainers[0].image == "registry.local/osmo-init:1")
            #expect(spec.volumes.contains { $0.secret?.secretName == "shared-login" })
        }
    }

    /// A manifest the validator rejects is caught by the test's own check (the check works).
    @Test func validatorRejectsAnUnknownField() throws {
        let scratch = Scratch()
        let broken = try Self.render().replacing("\n  restartPolicy: Never\n", with: "\n  restartPolicy: Never\n  restartPolicyy: Never\n")
        #expect(broken.contains("restartPolicyy"))
        for (version, result) in try Self.validate(broken, scratch) {
            #expect(result.status != 0, "Kubernetes \(version) accepted an unknown field: \(result.stdout)")
        }
    }

    @Test func badNamesAndURLsAreUsageErrors() throws {
        let name = try Shell.run(OsmoBinary.path, ["pod", "manifest", "--name", "My_Pod", "--", "true"])
        #expect(name.status == 2)
        #expect(name.stderr.contains("--name 'My_Pod' is not a Kubernetes name"), "\(name.stderr)")
        let url = try Shell.run(OsmoBinary.path, ["pod", "manifest", "--service-url", "osmo.example.com", "--", "true"])
        #expect(url.status == 2)
        #expect(url.stderr.contains("--service-url takes http(s)://HOST[:PORT]"), "\(url.stderr)")
        // A task name Kubernetes would refuse becomes a valid container name (k8s_name).
        let manifest = try Shell.run(OsmoBinary.path, ["pod", "manifest", "--task", "Train_Step", "--", "true"])
        let (podName, spec) = try Self.pod(try Self.documents(manifest.stdout))
        #expect(podName == "local-train-step")
        #expect(spec.containers[0].name == "train-step")
    }
}
