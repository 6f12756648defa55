// swift-tools-version: 6.1
// libFuzzer targets for the code that parses hostile input. A package of its own so that the root package
// never builds them: they link only with `--sanitize=fuzzer`, which supplies `main`. `run.sh` builds and runs them.
import PackageDescription

let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")

let package = Package(
    name: "MesherFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Mesher", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.100.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
    ],
    targets: [
        // Invariant checks that stop the fuzzer with a message.
        .target(name: "FuzzSupport"),
        .executableTarget(
            name: "FuzzSniff",
            dependencies: ["FuzzSupport", .product(name: "Sniff", package: "Mesher"), nioCore]
        ),
        .executableTarget(
            name: "FuzzDNS",
            dependencies: [
                "FuzzSupport", .product(name: "DNS", package: "Mesher"), nioCore,
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "FuzzRegistryFile",
            dependencies: [
                "FuzzSupport", .product(name: "Discovery", package: "Mesher"),
                .product(name: "MesherBase", package: "Mesher"),
            ]
        ),
        .executableTarget(
            name: "FuzzConfig",
            dependencies: ["FuzzSupport", .product(name: "Config", package: "Mesher")]
        ),
        .executableTarget(
            name: "FuzzHTTP1",
            dependencies: [
                "FuzzSupport", .product(name: "HTTP1", package: "Mesher"), .product(name: "Proxy", package: "Mesher"),
                nioCore,
            ]
        ),
        .executableTarget(
            name: "FuzzHTTPForward",
            dependencies: [
                "FuzzSupport", .product(name: "HTTP1", package: "Mesher"), .product(name: "Proxy", package: "Mesher"),
                .product(name: "Limits", package: "Mesher"), .product(name: "Routing", package: "Mesher"), nioCore,
                .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "FuzzHTTP2Forward",
            dependencies: [
                "FuzzSupport", .product(name: "HTTP1", package: "Mesher"), .product(name: "Proxy", package: "Mesher"),
                .product(name: "Limits", package: "Mesher"), .product(name: "Routing", package: "Mesher"),
                .product(name: "Discovery", package: "Mesher"), .product(name: "MesherBase", package: "Mesher"),
                nioCore,
                .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
