// swift-tools-version:6.1
// 6.1 is needed to pass `traits: []` to Hummingbird (its default FullFoundation trait links full
// Foundation + ICU, ~45 MB).
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
        /// The parsers of untrusted input, for the libFuzzer targets in `Fuzz/`.
        .library(name: "OsmoParsers", targets: ["OsmoProtocol", "OsmoData", "OsmoArchive", "OsmoSystem", "OsmoCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // WebSockets (ctrl ↔ service and router, the workstation CLI) and the local service.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
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

        /// WebSocket connections (client side on WSClient), byte pumps between them and sockets,
        /// and the service's wire shapes (token answers, logger frames, actions).
        .target(name: "OsmoNet", dependencies: [
            "OsmoTransfer", "OsmoProtocol", "OsmoSystem", "OsmoCore",
            .product(name: "WSClient", package: "swift-websocket"),
            .product(name: "WSCore", package: "swift-websocket"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),

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
        .target(name: "OsmoCtrl", dependencies: ["OsmoNet", "OsmoData", "OsmoProtocol", "OsmoSystem", "OsmoCore"]),

        /// `osmo service`: a local stand-in for the OSMO service's endpoints ctrl and the CLI use
        /// (token, logger websocket, barriers, actions, router), on Hummingbird.
        .target(name: "OsmoService", dependencies: [
            "OsmoNet", "OsmoSystem", "OsmoCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
        ]),

        /// `osmo exec` / `osmo port-forward`: the workstation side of exec and port-forward.
        .target(name: "OsmoClient", dependencies: [
            "OsmoNet", "OsmoData", "OsmoTransfer", "OsmoSystem", "OsmoCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),

        /// `osmo pod run|manifest`: a task pod as local processes, or as a Kubernetes manifest.
        .target(name: "OsmoPod", dependencies: ["OsmoService", "OsmoProtocol", "OsmoSystem", "OsmoCore"]),

        // MARK: Commands and the executable
        /// Command-line front ends of every role and the argv[0] dispatch table.
        .target(name: "OsmoCommands", dependencies: [
            "OsmoInit", "OsmoWrapper", "OsmoCtrl", "OsmoPod", "OsmoService", "OsmoClient", "OsmoNet", "OsmoData", "OsmoTransfer", "OsmoArchive", "OsmoSystem", "OsmoCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        /// The one busybox-style binary.
        .executableTarget(name: "osmo", dependencies: ["OsmoCommands", "COsmoSys"]),

        .testTarget(name: "OsmoTests", dependencies: [
            "osmo", "OsmoCommands", "OsmoInit", "OsmoWrapper", "OsmoProtocol", "OsmoSystem", "OsmoCore",
            "OsmoTransfer", "OsmoArchive", "OsmoData", "OsmoCtrl", "OsmoPod", "OsmoNet", "OsmoService", "OsmoClient",
        ]),
    ]
)
