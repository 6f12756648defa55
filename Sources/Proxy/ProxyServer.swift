import Config
import Foundation
import Limits
import Logging
import NIOCore
import NIOPosix
import Routing

/// Mesher's listeners: outbound and inbound capture (what iptables REDIRECTs), and the explicit HTTP proxy.
public final class ProxyServer: Sendable {
    public let listeners: [any Channel]
    private let environment: RelayEnvironment

    private init(listeners: [any Channel], environment: RelayEnvironment) {
        self.listeners = listeners
        self.environment = environment
    }

    /// Binds every configured address; an address this host does not have (no IPv6) is skipped with a warning.
    public static func start(
        config: MesherConfig, logger: Logger, accessLog: AccessLog?, router: ServiceRouter?, group: any EventLoopGroup
    ) throws -> ProxyServer {
        let localAddresses = LocalAddressTable(LocalAddressTable.system())
        var settings = RelaySettings(config, proxyMark: config.effectiveProxyMark, localAddresses: localAddresses)
        // Never more connections than descriptors allow: at the cap accepting pauses, where running out of
        // descriptors would fail accepts, upstream connects and the registry alike.
        let fit = FileDescriptorLimit.connectionsThatFit(
            descriptors: FileDescriptorLimit.current, otherwiseReserved: config.dns.enabled ? config.dns.maxForwards : 0
        )
        if fit < settings.maxConnections {
            logger.warning(
                "connection limit lowered to what the descriptor limit allows",
                metadata: [
                    "maxConnections": "\(fit)", "configured": "\(settings.maxConnections)",
                    "nofile": "\(FileDescriptorLimit.current)",
                ])
            settings.maxConnections = fit
        }
        var loops: [ObjectIdentifier: NIOLoopBoundBox<LoopState>] = [:]
        for eventLoop in group.makeIterator() {
            loops[ObjectIdentifier(eventLoop)] = .makeBoxSendingValue(
                LoopState(pool: UpstreamPool(eventLoop: eventLoop, settings: settings)), eventLoop: eventLoop)
        }
        let environment = RelayEnvironment(
            settings: settings, logger: logger, accessLog: accessLog, tracker: ConnectionTracker(), router: router,
            loops: loops)
        let limiter = ConnectionLimiter(limit: settings.maxConnections)

        var listeners = try bind(
            "outbound", config.outbound.addresses, port: config.outbound.port, group: group, environment: environment,
            limiter: limiter
        ) { channel in
            let session = RelaySession(environment: environment, downstream: channel)
            try channel.pipeline.syncOperations.addHandler(SniffHandler(session: session))
        }
        if config.inbound.enabled {
            listeners += try bind(
                "inbound", config.inbound.addresses, port: config.inbound.port, group: group, environment: environment,
                limiter: limiter
            ) { channel in
                let session = RelaySession(environment: environment, downstream: channel, direction: .inbound)
                try channel.pipeline.syncOperations.addHandler(SniffHandler(session: session))
            }
        }
        if config.explicitProxy.enabled {
            // `HTTP_PROXY=http://127.0.0.1:30101`: requests in absolute form and CONNECT, no capture involved.
            listeners += try bind(
                "explicit HTTP proxy", [config.explicitProxy.address], port: config.explicitProxy.port, group: group,
                environment: environment, limiter: limiter
            ) { channel in
                let session = RelaySession(environment: environment, downstream: channel, isExplicitProxy: true)
                session.sniffed = .http
                try HTTPPipeline.install(channel.pipeline.syncOperations, position: .last, session: session)
                session.startIdleTimer()
            }
        }
        return ProxyServer(listeners: listeners, environment: environment)
    }

    /// Binds `addresses`; one this host does not have (::1 without IPv6) is skipped with a warning, and it
    /// fails only when none binds. IPv6 sockets are IPv6-only, so that "0.0.0.0" and "::" can both be listed.
    private static func bind(
        _ what: String, _ addresses: [String], port: UInt16, group: any EventLoopGroup, environment: RelayEnvironment,
        limiter: ConnectionLimiter, initialize: @escaping @Sendable (any Channel) throws -> Void
    ) throws -> [any Channel] {
        var channels: [any Channel] = []
        var lastError: (any Error)?
        for address in addresses {
            do {
                var bootstrap = ServerBootstrap(group: group)
                    .serverChannelOption(.backlog, value: 4096)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .serverChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try ListenerGuards.install(
                                on: channel, name: what, limiter: limiter, logger: environment.logger)
                        }
                    }
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try environment.settings.applySocketOptions(channel, noDelay: true)
                            try initialize(channel)
                        }
                    }
                if address.contains(":") {
                    bootstrap = bootstrap.serverChannelOption(
                        ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 1)
                }
                let channel = try bootstrap.bind(host: address, port: Int(port)).wait()
                environment.logger.info(
                    "listening",
                    metadata: [
                        "listener": "\(what)", "address": "\(channel.localAddress.map(RelaySession.format) ?? address)",
                    ])
                channels.append(channel)
            } catch {
                environment.logger.warning(
                    "cannot listen",
                    metadata: ["listener": "\(what)", "address": "\(address)", "port": "\(port)", "error": "\(error)"])
                lastError = error
            }
        }
        if channels.isEmpty, let lastError { throw lastError }
        return channels
    }

    public var openConnections: Int { environment.tracker.count }

    /// Stops accepting, lets open connections finish for up to `timeout`, then closes the rest.
    public func drain(timeout: TimeAmount) {
        for listener in listeners { try? listener.close().wait() }
        let deadline = NIODeadline.now() + timeout
        while environment.tracker.count > 0 && NIODeadline.now() < deadline {
            usleep(20_000)
        }
        let remaining = environment.tracker.count
        if remaining > 0 {
            environment.logger.info("drain timeout: closing open connections", metadata: ["open": "\(remaining)"])
            environment.tracker.closeAll()
        }
    }
}
