import Admin
import ArgumentParser
import Capture
import Config
import DNS
import Discovery
import Foundation
import HTTPClients
import Limits
import Logging
import NIOCore
import NIOPosix
import Proxy
import Registration
import Routing

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the proxy: relay captured connections to their original destination.")

    @Option(help: "Path of mesher.yaml (optional; env MESHER_CONFIG).")
    var config: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (overrides log.level).")
    var logLevel: String?

    @Option(help: "Access log: '-' for standard output or a file path (overrides log.accessLog).")
    var accessLog: String?

    @Flag(
        help: """
            All in one (dev VM, privileged container): install the capture rules for this network namespace once \
            listening, and remove them on SIGTERM/SIGINT before draining. Fail-open nfqueue mode unless \
            --capture-mode redirect: a crash leaves the rules but not a black hole.
            """)
    var capture = false

    @OptionGroup(title: "Capture rules, with --capture (as for mesher init; ports come from the config)")
    var captureOptions: CaptureOptions

    func validate() throws {
        if let logLevel, !LogConfig.levels.contains(logLevel) {
            throw ValidationError(
                "--log-level: '\(logLevel)' is not one of \(LogConfig.levels.joined(separator: ", "))")
        }
    }

    func run() throws {
        var settings = MesherConfig()
        if let path = config ?? ProcessInfo.processInfo.environment["MESHER_CONFIG"] {
            settings = try MesherConfig.load(path: path)
        }
        // As the init step is configured: an injected sidecar learns the capture mode from its environment.
        if let mode = ProcessInfo.processInfo.environment["MESHER_CAPTURE_MODE"] {
            guard CaptureConfig.modes.contains(mode) else {
                throw ValidationError(
                    "MESHER_CAPTURE_MODE: '\(mode)' is not one of \(CaptureConfig.modes.joined(separator: ", "))")
            }
            settings.capture.mode = mode
        }
        // All in one: nfqueue unless asked otherwise, so that a crash leaves the box working (fail-open).
        if capture && captureOptions.captureMode == nil
            && ProcessInfo.processInfo.environment["MESHER_CAPTURE_MODE"] == nil
        {
            settings.capture.mode = "nfqueue"
        }
        if let logLevel { settings.log.level = logLevel }
        if let accessLog { settings.log.accessLog = accessLog }

        let level = Logger.Level(rawValue: settings.log.level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "mesher")
        FileDescriptorLimit.raise()
        let accessLog: AccessLog?
        do {
            accessLog = try settings.log.accessLog.map(AccessLog.init(path:))
        } catch {
            throw ValidationError("log.accessLog: cannot open '\(settings.log.accessLog ?? "")': \(error)")
        }

        // Signals are handled on a queue of their own; the default action would kill open connections.
        let stop = DispatchSemaphore(value: 0)
        let signalSources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            return source
        }

        // nfqueue mode: the reader binds before the rules exist (--capture) and marks only once listening.
        // Bound first of all: a queue that is taken fails the start before any thread or listener exists.
        let gate =
            settings.capture.mode == "nfqueue"
            ? try QueueGate(queueNumber: settings.capture.queueNumber, mark: settings.capture.queueMark) : nil
        let group = MultiThreadedEventLoopGroup(numberOfThreads: settings.threads ?? System.coreCount)
        // Mesher's own HTTP requests (etcd, the app's health check); shut down before the group, and also
        // when the start fails (AsyncHTTPClient traps on a client dropped running, in debug builds).
        let httpClient = MesherHTTPClient(group: group)
        var httpClientShutDown = false
        defer { if !httpClientShutDown { try? httpClient.syncShutdown() } }
        let (registry, stopRegistry) = try Self.registry(
            settings.registry, httpClient: httpClient, group: group, logger: logger)
        let router = ServiceRouter(
            discovery: registry, virtualIPs: VirtualIPTable(ipv6Prefix: settings.routing.virtualIPv6PrefixBytes),
            searchSuffixes: settings.routing.searchSuffixes)
        let server = try ProxyServer.start(
            config: settings, logger: logger, accessLog: accessLog, router: router, group: group)
        let dns =
            settings.dns.enabled
            ? try startDNS(
                settings.dns, proxyMark: settings.effectiveProxyMark, router: router, group: group, logger: logger)
            : nil
        let provider = try settings.service.map {
            try ProviderSide.start($0, registration: registry, httpClient: httpClient, group: group, logger: logger)
        }
        let admin =
            settings.admin.enabled
            ? try AdminServer.start(
                host: settings.admin.address, port: Int(settings.admin.port), group: group, logger: logger,
                isReady: { provider?.registrar.isReady ?? true })
            : nil
        let captured = try capture ? installCapture(settings, logger: logger) : nil
        gate?.open()
        logger.info("mesher running", metadata: ["pid": "\(getpid())"])
        stop.wait()
        // New connections go direct from now on, not to a Mesher that is leaving.
        gate?.close()
        if let captured {
            do {
                try captured.uninstall()
                logger.info("capture rules removed")
            } catch {
                logger.error("cannot remove capture rules", metadata: ["error": "\(error)"])
            }
        }
        // Deregister first, so that consumers stop choosing this instance while its connections drain.
        provider?.stop()
        logger.info(
            "shutting down: draining open connections",
            metadata: ["open": "\(server.openConnections)", "timeout": "\(settings.drainTimeout)"])
        dns?.close()
        admin?.close()
        server.drain(timeout: .nanoseconds(settings.drainTimeout.nanoseconds))
        stopRegistry()
        gate?.stop()
        httpClientShutDown = true
        try httpClient.syncShutdown()
        try group.syncShutdownGracefully()
        for source in signalSources { source.cancel() }
        logger.info("stopped")
    }

    /// `--capture`: the rules of `mesher init`, pointing at the ports this Mesher listens on.
    private func installCapture(_ settings: MesherConfig, logger: Logger) throws -> CaptureInstaller {
        let environment = ProcessInfo.processInfo.environment
        var rules = try captureOptions.settings(environment: environment)
        rules.outboundPort = settings.outbound.port
        rules.inboundPort = settings.inbound.port
        rules.dnsPort = settings.dns.port
        if !settings.inbound.enabled { rules.includeInboundPorts = .none }
        if !settings.dns.enabled { rules.captureDNS = false }
        if let mark = settings.effectiveProxyMark { rules.proxyMark = mark }
        rules.mode = CaptureMode(rawValue: settings.capture.mode) ?? .redirect
        rules.queueNumber = settings.capture.queueNumber
        rules.queueMark = settings.capture.queueMark
        let installer = try CaptureCLI.installer(captureOptions, environment: environment)
        try installer.install(rules)
        logger.info("capture rules installed", metadata: ["iptables": "\(installer.iptables.tool("restore", .ipv4))"])
        return installer
    }

    /// The registry to read services from and register the app in, and how to stop its background work.
    private static func registry(
        _ config: RegistryConfig, httpClient: MesherHTTPClient, group: any EventLoopGroup, logger: Logger
    ) throws -> (any ServiceDiscovery & ServiceRegistration, @Sendable () -> Void) {
        switch config.kind {
        case "etcd":
            let tls = config.tls.map { EtcdHTTPTransport.TLSFiles(ca: $0.ca, cert: $0.cert, key: $0.key) }
            let transport: EtcdHTTPTransport
            do {
                transport = try EtcdHTTPTransport(client: httpClient, tls: tls)
            } catch {
                throw ValidationError("registry.tls: \(error)")
            }
            let etcd = EtcdRegistry(
                endpoints: config.endpoints, prefix: config.prefix, leaseTTL: Int(config.leaseTTL.seconds),
                transport: transport, group: group, logger: logger)
            etcd.start()
            return (etcd, { etcd.stop() })
        default:
            let files = FileRegistry(
                directory: config.directory, leaseTTL: Double(config.leaseTTL.nanoseconds) / 1e9, logger: logger)
            files.startWatching()
            return (files, { files.stop() })
        }
    }

    /// Service names answer with their virtual IP; other names go to the resolvers the host was given.
    private func startDNS(
        _ config: DNSConfig, proxyMark: UInt32?, router: ServiceRouter, group: any EventLoopGroup, logger: Logger
    ) throws
        -> DNSServer
    {
        let resolvConf = (try? String(contentsOfFile: config.resolvConf, encoding: .utf8)) ?? ""
        let (upstreams, searchDomains) = DNSServerConfiguration.parseResolvConf(resolvConf)
        if upstreams.isEmpty {
            logger.warning(
                "no upstream resolver: only service names will resolve",
                metadata: ["resolvConf": "\(config.resolvConf)"])
        }
        let configuration = DNSServerConfiguration(
            addresses: config.addresses, port: Int(config.port), upstreams: upstreams,
            ttl: UInt32(clamping: config.ttl.seconds), searchDomains: searchDomains, socketMark: proxyMark,
            maxForwards: config.maxForwards)
        return try DNSServer.start(configuration: configuration, group: group, logger: logger) { name in
            router.service(forHost: name).map {
                DNSServiceAnswer(ipv4: router.virtualIPs.address(for: $0), ipv6: router.virtualIPs.ipv6Address(for: $0))
            }
        }
    }
}
