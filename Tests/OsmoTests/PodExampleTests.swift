import FoundationEssentials
@testable import OsmoCommands
import OsmoInit
import OsmoSystem
import Testing

/// `images/pod-example.yaml` cannot run here, so its wiring is checked against what `osmo`
/// accepts: every command is a program name osmo dispatches, every flag parses, every path a
/// flag names is a volume mounted in that container, and the files init installs are the ones
/// the containers mount.
@Suite struct PodExampleTests {
    struct Pod: Decodable {
        struct Spec: Decodable {
            var initContainers: [Container]
            var containers: [Container]
            var volumes: [Volume]
        }
        var spec: Spec
    }
    struct Container: Decodable {
        var name: String
        var command: [String]
        var args: [String]
        var volumeMounts: [Mount]
    }
    struct Mount: Decodable {
        var name: String
        var mountPath: String
        var subPath: String?
    }
    struct Volume: Decodable { var name: String }

    static func load() throws -> Pod {
        let path = Path.join(BundleTests.packageRoot, "images/pod-example.yaml")
        let json = try Shell.run("/usr/bin/env", [
            "python3", "-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", path,
        ])
        #expect(json.status == 0, "\(json.stderr)")
        return try JSONDecoder().decode(Pod.self, from: Data(json.stdout.utf8))
    }

    /// The mount that holds `path` in a container (longest mountPath prefix).
    func mount(of path: String, in container: Container) -> Mount? {
        container.volumeMounts
            .filter { path == $0.mountPath || path.hasPrefix($0.mountPath.hasSuffix("/") ? $0.mountPath : $0.mountPath + "/") }
            .max { $0.mountPath.count < $1.mountPath.count }
    }

    @Test func wiringMatchesWhatOsmoAccepts() throws {
        let pod = try Self.load()
        let volumes = Set(pod.spec.volumes.map(\.name))
        for container in pod.spec.initContainers + pod.spec.containers {
            for m in container.volumeMounts { #expect(volumes.contains(m.name), "\(container.name): \(m.name)") }
        }

        // init
        let initContainer = try #require(pod.spec.initContainers.first)
        #expect(Role.programNames[Path.basename(initContainer.command[0])] == .initialize)
        let initOptions = try InitCommand.parse(initContainer.args).options
        #expect(mount(of: initOptions.dataLocation, in: initContainer)?.name == "osmo-data")
        #expect(mount(of: initOptions.loginLocation, in: initContainer)?.name == "osmo-login")
        #expect(mount(of: initOptions.userBinLocation, in: initContainer)?.name == "osmo-usr-bin")
        #expect(mount(of: initOptions.runLocation, in: initContainer)?.name == "osmo-run")
        #expect(mount(of: initOptions.binLocation, in: initContainer)?.name == "osmo")
        #expect(mount(of: initOptions.loginConfig, in: initContainer)?.name == "login-config")
        #expect(mount(of: initOptions.userConfig, in: initContainer)?.name == "user-config")

        // ctrl sidecar
        let ctrl = try #require(pod.spec.containers.first { $0.name == "osmo-ctrl" })
        let ctrlProgram = Path.basename(ctrl.command[0])
        let ctrlBinary = try #require(mount(of: ctrl.command[0], in: ctrl))
        #expect(ctrlBinary.name == "osmo" && ctrlBinary.subPath == "osmo/\(ctrlProgram)")
        #expect(Initializer.roleLinks.contains(ctrlProgram), "init installs \(ctrlProgram)")
        var ctrlFlags = CtrlFlags.spec()
        try ctrlFlags.parse(ctrl.args)
        #expect(ctrlFlags.positional.isEmpty)
        #expect(mount(of: ctrlFlags.string("socketPath"), in: ctrl)?.subPath == "socket")
        #expect(mount(of: ctrlFlags.string("inputPath"), in: ctrl)?.subPath == "input")
        #expect(mount(of: ctrlFlags.string("outputPath"), in: ctrl)?.subPath == "output")
        for file in ["refreshToken", "serviceConfig", "userConfig"] {
            #expect(mount(of: ctrlFlags.string(file), in: ctrl) != nil, "\(file) is mounted")
        }

        // user container
        let user = try #require(pod.spec.containers.first { $0.name != "osmo-ctrl" })
        let userProgram = Path.basename(user.command[0])
        #expect(Role.programNames[userProgram] == .user)
        let wrapperMount = try #require(mount(of: user.command[0], in: user))
        #expect(wrapperMount.name == "osmo" && wrapperMount.subPath == "osmo/\(userProgram)")
        #expect(Initializer.roleLinks.contains(userProgram))
        var userFlags = UserCommand.flags(program: userProgram)
        try userFlags.parse(user.args)
        let wrapper = UserCommand.options(from: userFlags)
        #expect(wrapper.command.first == "python3")
        #expect(wrapper.socketPath == ctrlFlags.string("socketPath"), "both sides use one socket")
        #expect(mount(of: wrapper.socketPath, in: user)?.subPath == "socket")
        #expect(mount(of: wrapper.userBinPath, in: user)?.name == "osmo-usr-bin")
        #expect(mount(of: wrapper.runLocation, in: user)?.name == "osmo-run")
        // `<user_bin>/osmo` points at the wrapper's path in this container.
        #expect(InitOptions().userExecPath == user.command[0])
        #expect(initOptions.userBinLocation == wrapper.userBinPath)
    }
}
