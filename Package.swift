// swift-tools-version:6.0
import PackageDescription

/// libarchive and the codecs it needs are linked statically (from Debian's `-dev` packages) so the
/// binary's only shared-library dependency is glibc, and libarchive's xar reader (libxml2 → ICU,
/// ~30 MB) never gets pulled in: we only reference the formats and filters we support.
let staticArchive: [LinkerSetting] = [
    .unsafeFlags([
        "-Xlinker", "-l:libarchive.a", "-Xlinker", "-l:libnettle.a", "-Xlinker", "-l:libacl.a",
        "-Xlinker", "-l:libattr.a", "-Xlinker", "-l:liblzma.a", "-Xlinker", "-l:libzstd.a",
        "-Xlinker", "-l:liblz4.a", "-Xlinker", "-l:libbz2.a", "-Xlinker", "-l:libz.a",
    ]),
]

let package = Package(
    name: "osmo",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "osmo", targets: ["osmo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // MARK: C shims
        /// GNU-only process, socket and argv glue that Swift's Glibc module hides.
        .target(name: "COsmoSys", cSettings: [.define("_GNU_SOURCE")]),
        /// libcurl, loaded with dlopen on first use so the binary starts with glibc alone.
        .target(name: "COsmoCurl", cSettings: [.define("_GNU_SOURCE")]),
        /// libarchive (static) with the handful of entry points we call.
        .target(name: "COsmoArchive", linkerSettings: staticArchive),

        // MARK: Foundation layers
        /// The package error type, exit-code table and termination log: shared by every role.
        .target(name: "OsmoCore"),
        /// OS primitives: argv, files, atomic install, processes, signals, sockets.
        .target(name: "OsmoSystem", dependencies: ["COsmoSys", "OsmoCore"]),
        /// The ctrl ↔ wrapper Unix-socket protocol: messages and the streaming decoder.
        .target(name: "OsmoProtocol", dependencies: ["OsmoSystem", "OsmoCore"]),
        /// Transfer engine on libcurl.
        .target(name: "OsmoTransfer", dependencies: ["COsmoCurl", "OsmoSystem", "OsmoCore"]),
        /// Archive engine on libarchive.
        .target(name: "OsmoArchive", dependencies: ["COsmoArchive", "OsmoSystem", "OsmoCore"]),

        /// Data locations, credentials, stores, resumable downloads with streaming extraction, uploads.
        .target(name: "OsmoData", dependencies: ["OsmoTransfer", "OsmoArchive", "OsmoSystem", "OsmoCore"]),

        // MARK: Roles
        /// `osmo-init`: prepares the shared volumes and installs the binary.
        .target(name: "OsmoInit", dependencies: ["OsmoSystem", "OsmoCore"]),
        /// `osmo_exec` / `osmo user`: runs the user's command as the container's PID 1.
        .target(name: "OsmoWrapper", dependencies: [
            "OsmoData", "OsmoSystem", "OsmoProtocol", "OsmoCore",
            .product(name: "Logging", package: "swift-log"),
        ]),

        /// `osmo-ctrl`: the sidecar's main sequence and its log sinks.
        .target(name: "OsmoCtrl", dependencies: ["OsmoData", "OsmoProtocol", "OsmoSystem", "OsmoCore"]),

        /// `osmo pod run|manifest`: a task pod as local processes, or as a Kubernetes manifest.
        .target(name: "OsmoPod", dependencies: ["OsmoProtocol", "OsmoSystem", "OsmoCore"]),

        // MARK: Commands and the executable
        /// Command-line front ends of every role and the argv[0] dispatch table.
        .target(name: "OsmoCommands", dependencies: [
            "OsmoInit", "OsmoWrapper", "OsmoCtrl", "OsmoPod", "OsmoData", "OsmoTransfer", "OsmoArchive", "OsmoSystem", "OsmoCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        /// The one busybox-style binary.
        .executableTarget(name: "osmo", dependencies: ["OsmoCommands"]),

        .testTarget(name: "OsmoTests", dependencies: [
            "osmo", "OsmoCommands", "OsmoInit", "OsmoWrapper", "OsmoProtocol", "OsmoSystem", "OsmoCore",
            "OsmoTransfer", "OsmoArchive", "OsmoData", "OsmoCtrl", "OsmoPod",
        ]),
    ]
)
