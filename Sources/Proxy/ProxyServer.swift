import Config
import Foundation
import Logging
import NIOCore
import NIOPosix
import Routing

/// The outbound capture listener: accepts what iptables REDIRECTs to it and relays each connection
/// to its original destination.
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
        let localAddresses = Set(((try? System.enumerateDevices()) ?? []).compactMap { $0.address?.ipBytes })
        let settings = RelaySettings(config, proxyMark: config.effectiveProxyMark, localAddresses: localAddresses)
        var pools: [ObjectIdentifier: NIOLoopBoundBox<UpstreamPool>] = [:]
        for eventLoop in group.makeIterator() {
            pools[ObjectIdentifier(eventLoop)] = .makeBoxSendingValue(
                UpstreamPool(eventLoop: eventLoop, settings: settings), eventLoop: eventLoop)
        }
        let environment = RelayEnvironment(
            settings: settings, logger: logger, accessLog: accessLog, tracker: ConnectionTracker(), router: router,
            pools: pools)

        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: settings.writeBufferWaterMark)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let session = RelaySession(environment: environment, downstream: channel)
                    try channel.pipeline.syncOperations.addHandler(SniffHandler(session: session))
                }
            }

        var listeners: [any Channel] = []
        var lastError: (any Error)?
        for address in config.outbound.addresses {
            do {
                let channel = try bootstrap.bind(host: address, port: Int(config.outbound.port)).wait()
                logger.info(
                    "listening", metadata: ["address": "\(channel.localAddress.map(RelaySession.format) ?? address)"])
                listeners.append(channel)
            } catch {
                logger.warning(
                    "cannot listen",
                    metadata: ["address": "\(address)", "port": "\(config.outbound.port)", "error": "\(error)"])
                lastError = error
            }
        }
        if listeners.isEmpty, let lastError { throw lastError }
        if config.explicitProxy.enabled {
            let proxy = try explicitProxyBootstrap(group: group, environment: environment)
                .bind(host: config.explicitProxy.address, port: Int(config.explicitProxy.port)).wait()
            logger.info(
                "explicit HTTP proxy", metadata: ["address": "\(proxy.localAddress.map(RelaySession.format) ?? "-")"])
            listeners.append(proxy)
        }
        return ProxyServer(listeners: listeners, environment: environment)
    }

    /// `HTTP_PROXY=http://127.0.0.1:30101`: requests in absolute form and CONNECT, no capture involved.
    private static func explicitProxyBootstrap(group: any EventLoopGroup, environment: RelayEnvironment)
        -> ServerBootstrap
    {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: environment.settings.writeBufferWaterMark)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let session = RelaySession(environment: environment, downstream: channel)
                    session.sniffed = .http
                    try HTTPPipeline.install(channel.pipeline.syncOperations, position: .last, session: session)
                    session.startIdleTimer()
                }
            }
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
