import Limits
import Logging
import NIOCore
import NIOExtras
import NIOPosix

/// One bound listening socket, known by what closes it and tells its connections to quiesce when the proxy
/// drains.
struct Listener {
    let quiescing: ServerQuiescingHelper
    let kind: ListenerKind
    let address: SocketAddress?

    /// Binds `addresses`; one this host does not have (::1 without IPv6) is skipped with a warning, and it
    /// fails only when none binds. IPv6 sockets are IPv6-only, so that "0.0.0.0" and "::" can both be listed.
    /// Accepting pauses at the connection cap and after failed accepts (`ListenerGuards`).
    static func bind(
        _ kind: ListenerKind, _ settings: ProxySettings.Listener, group: any EventLoopGroup,
        waterMark: ChannelOptions.Types.WriteBufferWaterMark,
        limiter: ConnectionLimiter, logger: Logger, initialize: @escaping @Sendable (any Channel) throws -> Void
    ) throws -> [Listener] {
        var listeners: [Listener] = []
        var lastError: (any Error)?
        for address in settings.addresses {
            // One per listening socket: the helper collects the connections of one server channel.
            let quiescing = ServerQuiescingHelper(group: group)
            do {
                var bootstrap = ServerBootstrap(group: group)
                    .serverChannelOption(.backlog, value: 4096)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .serverChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try ListenerGuards.install(
                                on: channel, name: kind.logName, limiter: limiter, logger: logger)
                            try channel.pipeline.syncOperations.addHandler(
                                quiescing.makeServerChannelHandler(channel: channel))
                        }
                    }
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try ProxySettings.applySocketOptions(channel, waterMark: waterMark, noDelay: true)
                            try initialize(channel)
                        }
                    }
                if address.contains(":") {
                    bootstrap = bootstrap.serverChannelOption(
                        ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 1)
                }
                let channel = try bootstrap.bind(host: address, port: Int(settings.port)).wait()
                logger.info(
                    "listening",
                    metadata: ["listener": "\(kind.logName)", "address": "\(channel.localAddress?.logText ?? address)"])
                listeners.append(Listener(quiescing: quiescing, kind: kind, address: channel.localAddress))
            } catch {
                logger.warning(
                    "cannot listen",
                    metadata: [
                        "listener": "\(kind.logName)", "address": "\(address)", "port": "\(settings.port)",
                        "error": "\(error)",
                    ])
                lastError = error
            }
        }
        if listeners.isEmpty, let lastError { throw lastError }
        return listeners
    }
}

extension ListenerKind {
    public var logName: String {
        switch self {
        case .outbound: "outbound"
        case .inbound: "inbound"
        case .explicitProxy: "explicit HTTP proxy"
        }
    }
}
