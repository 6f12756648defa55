// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Mesher",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mesher", targets: ["MesherCLI"]),
        // For the fuzz targets (Tests/Fuzz, a package of its own): the modules that parse hostile input.
        .library(name: "Sniff", targets: ["Sniff"]),
        .library(name: "DNS", targets: ["DNS"]),
        .library(name: "Discovery", targets: ["Discovery"]),
        .library(name: "Config", targets: ["Config"]),
        .library(name: "Proxy", targets: ["Proxy"]),
        .library(name: "HTTP1", targets: ["HTTP1"]),
        .library(name: "MesherBase", targets: ["MesherBase"]),
        .library(name: "Limits", targets: ["Limits"]),
        .library(name: "Routing", targets: ["Routing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.100.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Without its Foundation trait: Mesher spawns iptables with plain strings.
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.0", traits: []),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-otel/swift-w3c-trace-context.git", from: "1.0.0"),
        // Already built for async-http-client: HTTP/2 costs no extra package build.
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        // Already built for swift-nio: persistent hash tries (a registry change copies only the path to what
        // changed) and a heap (heartbeat expiries).
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
    ],
    targets: [
        // What every part shares and must agree on: default ports and proxy identity, the capture mode, IP address
        // text, socket marks. No dependencies, so that the lowest modules can use it.
        .target(name: "MesherBase"),
        // Capture rules: plan, render (iptables-restore input), apply, uninstall; the NFQUEUE gate.
        .target(
            name: "Capture",
            dependencies: [
                "MesherBase", "CNetfilterQueue", .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        // libnetfilter_queue and libmnl, from Debian's -dev packages.
        .systemLibrary(
            name: "CLibNetfilterQueue",
            pkgConfig: "libnetfilter_queue",
            providers: [.apt(["libnetfilter-queue-dev", "libmnl-dev"])]
        ),
        // The NFQUEUE verdict loop, in C: netlink attribute handling reads better there than through unsafe Swift.
        // (Its link flags are repeated here: a module map's `link` reaches Swift importers only.)
        .target(
            name: "CNetfilterQueue",
            dependencies: ["CLibNetfilterQueue"],
            linkerSettings: [.linkedLibrary("netfilter_queue"), .linkedLibrary("mnl")]
        ),
        // HTTP/1.x on the wire: a strict head parser, body framing, and what Mesher writes.
        .target(name: "HTTP1", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
        // Resource limits shared by the listeners: connection caps, accept backoff, descriptors, rate-limited logs.
        .target(
            name: "Limits",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Protocol detection from a connection's first bytes.
        .target(
            name: "Sniff",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ]
        ),
        // mesher.yaml: Codable settings, defaults in one place, validated at load.
        .target(
            name: "Config",
            dependencies: ["MesherBase", .product(name: "Yams", package: "Yams")]
        ),
        // What Mesher counts, in Prometheus's terms: metric names and help, each event loop's handles, the
        // process's own figures.
        .target(name: "Telemetry", dependencies: [.product(name: "Prometheus", package: "swift-prometheus")]),
        // Data path: listeners, original destination, TCP relay.
        .target(
            name: "Proxy",
            dependencies: [
                "MesherBase", "Sniff", "Discovery", "Routing", "HTTP1", "Limits", "Telemetry",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Where services are: the registry interface and its file backend.
        .target(
            name: "Discovery",
            dependencies: [
                "MesherBase",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HashTreeCollections", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        // Mesher's own HTTP requests: etcd (HTTP or HTTPS with client certificates) and the app's health check, on
        // AsyncHTTPClient. Apart from Discovery, so that the parsers there (and their fuzzers) build without TLS.
        .target(
            name: "HTTPClients",
            dependencies: [
                "Discovery",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Which instance gets a connection or request: service names, virtual IPs, balancers.
        .target(
            name: "Routing",
            dependencies: [
                "Discovery", "MesherBase", .product(name: "HashTreeCollections", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A provider's side: registering its app and checking the app's health.
        .target(
            name: "Registration",
            dependencies: [
                "Discovery", "HTTPClients",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Mesher's own endpoints: health, readiness, metrics.
        .target(
            name: "Admin",
            dependencies: [
                "Telemetry", "Limits", .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `mesher inject`: Kubernetes manifests with the init step and the sidecar added.
        .target(name: "Inject", dependencies: ["MesherBase", .product(name: "Yams", package: "Yams")]),
        // DNS listener: service names answer with virtual IPs, everything else is forwarded.
        .target(
            name: "DNS",
            dependencies: [
                "Limits", "MesherBase",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "MesherCLI",
            dependencies: [
                "Capture", "Config", "Proxy", "Discovery", "Routing", "DNS", "Registration", "Admin", "Inject",
                "Limits", "MesherBase", "HTTPClients", "Telemetry",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            exclude: ["startup.order"],
            // The shipped binary (`make release`) links with lld: the code a start and the data path run placed
            // together (startup.order, written by scripts/order-file.sh), relative relocations packed (DT_RELR,
            // glibc 2.36+) instead of 2.9 MB of RELA read at every start, and no dynamic symbol table for
            // symbols nothing loads at run time. `make bench`, rss-idle: 32.0 MiB before, see the README now.
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker",
                        "--no-export-dynamic", "-Xlinker",
                        "--symbol-ordering-file=\(Context.packageDirectory)/Sources/MesherCLI/startup.order",
                        "-Xlinker", "--no-warn-symbol-ordering",
                    ],
                    .when(configuration: .release))
            ]
        ),
        .testTarget(
            name: "AdminTests", dependencies: ["Admin", .product(name: "NIOHTTP1", package: "swift-nio")],
            path: "Tests/AdminTests"),
        .testTarget(name: "MesherBaseTests", dependencies: ["MesherBase"], path: "Tests/MesherBaseTests"),
        .testTarget(
            name: "TelemetryTests",
            dependencies: ["Telemetry", .product(name: "Prometheus", package: "swift-prometheus")],
            path: "Tests/TelemetryTests"),
        .testTarget(name: "CaptureTests", dependencies: ["Capture"], path: "Tests/CaptureTests", exclude: ["Golden"]),
        .testTarget(
            name: "HTTP1Tests",
            dependencies: ["HTTP1", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/HTTP1Tests"
        ),
        .testTarget(
            name: "SniffTests",
            dependencies: [
                "Sniff", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            path: "Tests/SniffTests"
        ),
        .testTarget(
            name: "DNSTests",
            dependencies: [
                "DNS", "Limits",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Tests/DNSTests"
        ),
        .testTarget(
            name: "DiscoveryTests",
            dependencies: [
                "Discovery", "HTTPClients",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/DiscoveryTests"
        ),
        .testTarget(
            name: "RegistrationTests",
            dependencies: [
                "Registration", "HTTPClients",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/RegistrationTests"
        ),
        .testTarget(
            name: "RoutingTests", dependencies: ["Routing", "Discovery", "MesherBase"], path: "Tests/RoutingTests"),
        .testTarget(
            name: "DeployTests",
            dependencies: ["Config", .product(name: "Yams", package: "Yams")],
            path: "Tests/DeployTests"
        ),
        .testTarget(name: "InjectTests", dependencies: ["Inject"], path: "Tests/InjectTests", exclude: ["Golden"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "MesherBase"], path: "Tests/ConfigTests"),
        .testTarget(
            name: "ProxyTests",
            dependencies: [
                "Proxy", "Discovery", "Routing", "Limits", "Sniff",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/ProxyTests"
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [.product(name: "Yams", package: "Yams")],
            path: "Tests/EndToEnd",
            exclude: ["Fixtures"]
        ),
    ]
)
