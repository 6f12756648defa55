import Limits
import Logging
import NIOCore
import NIOPosix

enum DNSServerError: Error {
    case noListenAddresses
}

/// Mesher's DNS listener: names of registry services are answered with their addresses, every other
/// query is forwarded to the host's resolvers.
public final class DNSServer: Sendable {
    private let udpListeners: [any Channel]
    private let tcpListeners: [any Channel]
    private let tcpConnections: DNSTCPConnections
    private let metrics: DNSServerMetrics
    private let slots: DNSForwardSlots

    private init(
        udpListeners: [any Channel], tcpListeners: [any Channel], tcpConnections: DNSTCPConnections,
        metrics: DNSServerMetrics, slots: DNSForwardSlots
    ) {
        self.udpListeners = udpListeners
        self.tcpListeners = tcpListeners
        self.tcpConnections = tcpConnections
        self.metrics = metrics
        self.slots = slots
    }

    /// Binds UDP and TCP on every address; an address this host lacks (e.g. ::1 without IPv6) is skipped
    /// with a warning, and it throws only if no address binds.
    /// `lookup` runs on an event loop for every question about a name; it gets the name lowercased and
    /// without the trailing dot, and returns nil for names Mesher does not own.
    /// `warnings`: how often the warnings a flood could repeat are said (injectable for tests).
    public static func start(
        configuration: DNSServerConfiguration, group: any EventLoopGroup, logger: Logger,
        warnings: RateLimitedLog<DNSWarning> = RateLimitedLog(),
        lookup: @escaping @Sendable (String) -> DNSServiceAnswer?
    ) throws -> DNSServer {
        let metrics = DNSServerMetrics()
        let slots = DNSForwardSlots(limit: configuration.maxForwards)
        let processor = DNSQueryProcessor(
            responder: DNSQueryResponder(
                ttl: configuration.ttl, searchDomains: configuration.searchDomains, lookup: lookup),
            forwarder: DNSForwarder(
                upstreams: configuration.upstreams, timeout: configuration.forwardTimeout,
                socketMark: configuration.socketMark, slots: slots, warnings: warnings, logger: logger),
            metrics: metrics, logger: logger)
        let tcpConnections = DNSTCPConnections()
        let listeners = try bindListeners(
            configuration: configuration, group: group, processor: processor, tcpConnections: tcpConnections)
        return DNSServer(
            udpListeners: listeners.udp, tcpListeners: listeners.tcp, tcpConnections: tcpConnections, metrics: metrics,
            slots: slots)
    }

    /// The bound UDP addresses; TCP listens on the same ones.
    public var localAddresses: [SocketAddress] { udpListeners.compactMap(\.localAddress) }

    /// Packets that were not DNS queries and were dropped.
    public var malformedQueries: Int { metrics.malformedQueries }

    /// Queries so far by how they were answered (`virtual-ip`, `forwarded`, `failed`, `malformed`).
    public var answers: [String: Int] { metrics.answers }

    /// Queries being forwarded upstream now.
    public var forwardsInFlight: Int { slots.count }

    /// Closes the listeners and the open TCP connections; forwards in flight end with their own timeout.
    /// Starts closing without waiting (it runs on the event loops, whose shutdown waits for it).
    public func close() {
        for listener in udpListeners + tcpListeners { listener.close(promise: nil) }
        tcpConnections.closeAll()
    }

    private static func bindListeners(
        configuration: DNSServerConfiguration, group: any EventLoopGroup, processor: DNSQueryProcessor,
        tcpConnections: DNSTCPConnections
    ) throws -> (udp: [any Channel], tcp: [any Channel]) {
        let udp = DatagramBootstrap(group: group)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_535))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DNSUDPQueryHandler(processor: processor))
                }
            }
        let limiter = ConnectionLimiter(limit: configuration.maxTCPConnections)
        let idle = configuration.tcpIdleTimeout
        let tcp = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ListenerGuards.install(on: channel, name: "DNS", limiter: limiter, logger: processor.logger)
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                tcpConnections.track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try DNSTCPQueryHandler.addHandlers(
                        to: channel.pipeline.syncOperations, processor: processor, idleTimeout: idle)
                }
            }

        var udpListeners: [any Channel] = []
        var tcpListeners: [any Channel] = []
        var port = configuration.port
        var lastError: (any Error)?
        for address in configuration.addresses {
            // With port 0 the UDP port is chosen first; it may happen to be taken for TCP, so try again.
            let attempts = port == 0 ? 3 : 1
            for attempt in 1...attempts {
                do {
                    let (udpListener, tcpListener) = try bindPair(udp: udp, tcp: tcp, host: address, port: port)
                    udpListeners.append(udpListener)
                    tcpListeners.append(tcpListener)
                    port = udpListener.localAddress?.port ?? port
                    processor.logger.info(
                        "DNS listening", metadata: ["address": "\(address)", "port": "\(port)"])
                    break
                } catch {
                    lastError = error
                    if attempt == attempts {
                        processor.logger.warning(
                            "DNS cannot listen", metadata: ["address": "\(address)", "error": "\(error)"])
                    }
                }
            }
        }
        guard !udpListeners.isEmpty else { throw lastError ?? DNSServerError.noListenAddresses }
        return (udpListeners, tcpListeners)
    }

    /// UDP and TCP on one address and port, or neither.
    private static func bindPair(udp: DatagramBootstrap, tcp: ServerBootstrap, host: String, port: Int) throws
        -> (any Channel, any Channel)
    {
        let udpListener = try udp.bind(host: host, port: port).wait()
        do {
            let tcpListener = try tcp.bind(host: host, port: udpListener.localAddress?.port ?? port).wait()
            return (udpListener, tcpListener)
        } catch {
            try? udpListener.close().wait()
            throw error
        }
    }
}
