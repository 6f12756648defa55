import Admin
import Capture
import Config
import HTTPClients
import Logging
import NIOCore
import NIOPosix
import Prometheus
import Proxy
import Routing
import ServiceLifecycle
import UnixSignals

/// `mesher run`: every long-lived part is a service of one group. Each is started (bound, registered,
/// installed) in the order of the list, and the group shuts them down in reverse on SIGTERM, SIGINT or
/// `POST /quitquitquit`: the gate stops marking, the capture rules go, the app is deregistered, then
/// the proxy drains, and the registry stops last.
struct Sidecar {
    let config: MesherConfig
    /// `--capture`: the rules to install once listening, and remove at shutdown.
    let capture: CapturePlan?
    let accessLog: AccessLog?
    let logger: Logger
    /// The level every logger follows, changed through the admin API.
    let logLevel: LogLevelControl
    /// The config file reloads read, and how (with the environment's and the flags' overrides).
    let configPath: String?
    let configStamp: FileStamp?
    let loadConfig: @Sendable () throws -> MesherConfig

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        // Trapped as early: SIGHUP's default would end the process.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        // Bound first of all: a queue that is taken fails the start before any thread or listener exists.
        let gate =
            config.capture.mode == .nfqueue
            ? try QueueGate(queueNumber: config.capture.queueNumber, mark: config.capture.queueMark) : nil
        let group = MultiThreadedEventLoopGroup(numberOfThreads: config.threads ?? System.coreCount)
        // Mesher's own HTTP requests (etcd, the app's health check). AsyncHTTPClient traps on a client
        // dropped while running, so a start that fails shuts it down too.
        let httpClient = MesherHTTPClient(group: group)
        try await runServices(gate: gate, signals: signals, hangups: hangups, httpClient: httpClient, group: group)
        try await group.shutdownGracefully()
        logger.info("stopped")
    }

    /// Starts the services in order, then runs them until the group has shut them all down.
    private func runServices(
        gate: QueueGate?, signals: UnixSignalsSequence, hangups: UnixSignalsSequence, httpClient: MesherHTTPClient,
        group: any EventLoopGroup
    ) async throws {
        let services: [ServiceGroupConfiguration.ServiceConfiguration]
        do {
            services =
                try await start(gate: gate, hangups: hangups, httpClient: httpClient, group: group) + [
                    .init(
                        service: SignalService(signals: signals, logger: logger),
                        successTerminationBehavior: .gracefullyShutdownGroup)
                ]
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        logger.info("mesher running", metadata: ["pid": "\(getpid())"])
        try await ServiceGroup(configuration: .init(services: services, logger: logger)).run()
    }

    /// The services in start order.
    private func start(
        gate: QueueGate?, hangups: UnixSignalsSequence, httpClient: MesherHTTPClient, group: any EventLoopGroup
    ) async throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let registry = try RegistryService(config.registry, httpClient: httpClient, group: group, logger: logger)
        let range = config.routing.virtualIPRangeValue
        let router = ServiceRouter(
            discovery: registry.registry,
            virtualIPs: VirtualIPTable(
                range: VirtualIPTable.Range(base: range.base, prefixLength: range.prefixLength) ?? .standard,
                ipv6Prefix: config.routing.virtualIPv6PrefixBytes),
            searchSuffixes: config.routing.searchSuffixes, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: HTTPClientService(client: httpClient)), .init(service: registry),
        ]
        // Every event loop records into it; the admin port's /metrics reads it (nothing is recorded without one).
        let metricsRegistry = config.telemetry.metrics && config.admin.enabled ? PrometheusCollectorRegistry() : nil
        let proxy = try ProxyServer.start(
            settings: ProxySettings(config: config), logger: logger, accessLog: accessLog, router: router, group: group,
            metrics: metricsRegistry)
        services.append(
            .init(
                service: ProxyService(
                    server: proxy, drainTimeout: .nanoseconds(config.drainTimeout.nanoseconds), logger: logger)))
        let running = RunningConfig(config)
        services.append(
            .init(
                service: ConfigReloadService(
                    path: configPath, readAtStart: configStamp, load: loadConfig, running: running, proxy: proxy,
                    logLevel: logLevel,
                    signals: hangups, logger: logger)))
        var dns: DNSService?
        if config.dns.enabled {
            dns = try DNSService(
                config.dns, proxyMark: config.effectiveProxyMark, router: router, group: group, logger: logger)
            dns.map { services.append(.init(service: $0)) }
        }
        let metrics = metricsRegistry.map { [dns] in
            MetricsExporter(
                registry: $0, registryFigures: { RegistryFigures.of(registry.registry) },
                totals: { (dns?.answerTotals ?? []) + running.reloadTotals })
        }
        let provider = try config.service.map {
            try ProviderSide.start(
                $0, registration: registry.registry, httpClient: httpClient, group: group, logger: logger)
        }
        if let provider { services.append(.init(service: ProviderService(provider: provider))) }
        let quit = QuitService()
        if config.admin.enabled {
            let api = AdminAPI(
                config: running, registry: registry.registry, proxy: proxy, dns: dns, metrics: metrics,
                logLevel: logLevel, provider: provider)
            let admin = try await AdminServer.start(
                host: config.admin.address, port: Int(config.admin.port), group: group, logger: logger,
                endpoints: api.endpoints, notReady: api.notReady, quit: quit.request)
            services.append(.init(service: AdminService(server: admin)))
        }
        if let capture {
            try await capture.installer.install(capture.rules)
            logger.info(
                "capture rules installed",
                metadata: ["iptables": "\(capture.installer.iptables.tool("restore", .ipv4))"])
            services.append(.init(service: CaptureRulesService(installer: capture.installer, logger: logger)))
        }
        if let gate {
            // Everything listens: new connections can be marked for capture.
            gate.open()
            services.append(.init(service: QueueGateService(gate: gate)))
        }
        services.append(.init(service: quit, successTerminationBehavior: .gracefullyShutdownGroup))
        return services
    }
}
