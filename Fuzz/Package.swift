// swift-tools-version:6.1
// libFuzzer targets for osmo's parsers of untrusted input (scripts/fuzz.sh builds them with
// `-sanitize=fuzzer,address` and runs them). A package of its own, so the sanitizer build never
// touches the main one.
import PackageDescription

/// Each target hands its test function to libFuzzer from the entry point SwiftPM gives it.
func fuzzTarget(_ name: String, _ path: String, _ dependencies: [String]) -> Target {
    .executableTarget(
        name: name,
        dependencies: dependencies.map { .product(name: $0, package: "osmo") } + ["FuzzDriver"],
        path: "Sources/\(path)",
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]
    )
}

let package = Package(
    name: "osmo-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "osmo", path: "..")],
    targets: [
        /// The entry into libFuzzer's driver.
        .target(name: "FuzzDriver", path: "Sources/FuzzDriver"),
        /// The ctrl ↔ wrapper socket decoder (MessageStream): bytes from the user container.
        fuzzTarget("fuzz-socket-messages", "SocketMessages", ["OsmoParsers"]),
        /// Data URLs as the service and users write them.
        fuzzTarget("fuzz-data-urls", "DataURLs", ["OsmoParsers"]),
        /// The credential file reader (MiniYAML and the auth.data profiles).
        fuzzTarget("fuzz-credential-files", "CredentialFiles", ["OsmoParsers"]),
        /// Archive extraction and its entry-path policy: nothing may land outside.
        fuzzTarget("fuzz-archives", "Archives", ["OsmoParsers"]),
    ]
)
