import Glibc
@testable import OsmoCommands
import OsmoCore
import OsmoCtrl
import OsmoSystem
import Testing

/// The argv that released OSMO services give the runtime's containers, restated from the
/// reference's `src/utils/job/kb_objects.py` and `task.py` at v6.1-rc6, v6.2-rc12 and main
/// (1da31e19e): ctrl's base flags at kb_objects.py:196–205 (v6.1), :202–211 (v6.2); the wrapper's
/// from task.py's `to_pod_container`; init's from init.py:102–106. Every one must be accepted.
@Suite
struct ReleasedArgvTests {
    struct Release: Sendable, CustomTestStringConvertible {
        var name: String
        var ctrl: [String]
        var wrapper: [String]
        var testDescription: String { name }
    }

    static let commonCtrl = [
        "-workflow", "wf-abc-1", "-groupName", "g1", "-retryId", "0", "-logSource", "t1", "-host", "osmo.example.com",
        "-port", "443", "-scheme", "wss", "-refreshToken", "/osmo/.refresh_token", "-refreshScheme", "https",
        "-barrier", "osmo-group-ready", "-inputs", "task:0,s3://osmo-workflows/workflows/wf-abc-1/t0,",
        "-inputs", "url:1,s3://my-bucket/raw-data,", "-outputs", "task:s3://osmo-workflows/workflows/wf-abc-1/t1",
        "-outputs", "url:s3://my-bucket/results,", "-userConfig", "/osmo/user_config.yaml", "-serviceConfig", "/osmo/service_config.yaml",
    ]
    static let base = ["-socketPath", "/osmo/data/socket/data.sock", "-inputPath", "/osmo/data/input/", "-outputPath", "/osmo/data/output/",
                       "-metadataFile", "/osmo/data/default_metadata.yaml"]
    static let wrapper = [
        "-checkpoint", "/workspace/ckpt;s3://my-bucket/ckpt;300;", "-socketPath", "/osmo/data/socket/data.sock", "-userBinPath", "/osmo/usr/bin",
        "-enableRsync", "-rsyncReadLimit", "2621440", "-rsyncWriteLimit", "2621440", "-rsyncPathAllowList", "workspace:/workspace:true",
        "-commands", "bash", "-commands", "-c", "-args", "python train.py --epochs 10",
    ]

    static let releases = [
        Release(name: "v6.1-rc6", ctrl: base + ["-downloadType", "download", "-timeout", "1440", "-dataTimeout", "10", "-cacheSize", "9216"] + commonCtrl, wrapper: wrapper),
        Release(name: "v6.2-rc12", ctrl: base + ["-downloadType", "download", "-timeout", "1440", "-dataTimeout", "10", "-cacheSize", "9216"] + commonCtrl, wrapper: wrapper),
        Release(name: "main", ctrl: base + ["-timeout", "1440", "-dataTimeout", "10"] + commonCtrl, wrapper: wrapper),
    ]

    @Test(arguments: releases)
    func ctrlAcceptsTheReleasedFlags(_ release: Release) throws {
        var flags = CtrlFlags.spec()
        try flags.parse(release.ctrl)
        let options = try CtrlCommand.options(from: flags)
        #expect(options.inputs.map(\.url) == ["s3://osmo-workflows/workflows/wf-abc-1/t0", "s3://my-bucket/raw-data"])
        #expect(options.outputs.map(\.kind) == [.task, .url])
        #expect(options.barrier == "osmo-group-ready")
        #expect(options.dataTimeoutMinutes == 10)
    }

    @Test(arguments: releases)
    func wrapperAcceptsTheReleasedFlags(_ release: Release) throws {
        var flags = UserCommand.flags(program: "osmo_exec")
        try flags.parse(release.wrapper)
        let options = UserCommand.options(from: flags)
        #expect(options.command == ["bash", "-c", "python train.py --epochs 10"])
        #expect(options.checkpoints == ["/workspace/ckpt;s3://my-bucket/ckpt;300;"])
        #expect(options.enableRsync)
        #expect(options.rsyncReadLimit == 2_621_440)
    }

    /// The flags of services up to 6.3 through a whole task: `-downloadType`, `-cacheSize`,
    /// `-metadataFile`, `-timeout`, `-dataTimeout` given to the real ctrl by `pod run`.
    @Test(arguments: releases)
    func aTaskRunsToTheEndWithTheReleasedFlags(_ release: Release) throws {
        let scratch = Scratch()
        let example = Path.join(BundleTests.packageRoot, "examples/sensors.tar.gz")
        let statics = ["-metadataFile", "-downloadType", "-cacheSize", "-timeout", "-dataTimeout"]
        var injected: [String] = []
        for (index, flag) in release.ctrl.enumerated() where statics.contains(flag) {
            injected += ["--ctrl-arg", flag, "--ctrl-arg", release.ctrl[index + 1]]
        }
        let result = try Shell.run(OsmoBinary.path, ["pod", "run", "--pod-dir", scratch.at("pod"), "--input", "file://\(example)",
                                                     "--output", scratch.at("out")] + injected +
                                   ["--", "/bin/sh", "-c", "ls {{input:0}}/sensors | wc -l > {{output}}/n.txt"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(FileSystem.exists(scratch.at("out/n.txt")))
    }

    /// `dataset:` inputs (services up to 6.3) fail with a clear message and ctrl's code 30.
    @Test func datasetInputsAreRefusedWithCode30() throws {
        let scratch = Scratch()
        let result = try Shell.run(OsmoBinary.path, ["pod", "run", "--pod-dir", scratch.at("pod"),
                                                     "--ctrl-arg", "-inputs", "--ctrl-arg", "dataset:2,team-bucket/imagenet:v3,",
                                                     "--", "/bin/echo", "never"])
        #expect(result.status == 30, "\(result.stdout)\(result.stderr)")
        #expect((result.stdout + result.stderr).contains("dataset inputs and outputs need the OSMO dataset service"), "\(result.stdout)\(result.stderr)")
    }
}
