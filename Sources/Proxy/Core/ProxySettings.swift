import HTTP1
import MesherBase
import NIOCore

/// Everything the proxy reads from the configuration, built once by whoever starts it (the CLI converts
/// `mesher.yaml`). The defaults are those of `mesher.yaml`; tests and embedders change what they need.
public struct ProxySettings: Sendable {
    /// Where one listener binds; IPv6 sockets are IPv6-only, so "0.0.0.0" and "::" can both be listed.
    public struct Listener: Sendable, Equatable {
        public var addresses: [String]
        public var port: UInt16

        public init(addresses: [String], port: UInt16) {
            self.addresses = addresses
            self.port = port
        }
    }

    /// What iptables REDIRECTs the app's outbound connections to.
    public var outbound = Listener(addresses: ["127.0.0.1", "::1"], port: MesherDefaults.outboundPort)
    /// Callers reaching the app; `nil`: not captured.
    public var inbound: Listener? = Listener(addresses: ["0.0.0.0", "::"], port: MesherDefaults.inboundPort)
    /// `HTTP_PROXY=http://127.0.0.1:30101`; `nil`: off.
    public var explicitProxy: Listener? = Listener(addresses: ["127.0.0.1"], port: MesherDefaults.explicitProxyPort)
    /// Mesher's own ports besides the listeners (admin, DNS): a local destination on one of them is a loop,
    /// or someone using Mesher to reach itself.
    public var otherOwnPorts: Set<Int> = [Int(MesherDefaults.adminPort), Int(MesherDefaults.dnsPort)]
    /// Descriptors that other parts of the process may hold at once (DNS forwards), kept out of the
    /// connection budget.
    public var otherReservedDescriptors = 256

    public var connectTimeout = TimeAmount.seconds(5)
    public var idleTimeout = TimeAmount.seconds(3600)
    /// Per direction and socket: the write-buffer high-water mark (reads pause above it).
    public var bufferLimit = 256 * 1024
    /// SO_MARK on upstream sockets, so that the capture rules skip them.
    public var proxyMark: UInt32?
    /// How long a silent client may take to speak before it is relayed as TCP.
    public var sniffWindow = TimeAmount.milliseconds(50)
    /// Destination ports never sniffed: server-first protocols, relayed at once.
    public var opaquePorts: Set<UInt16> = [21, 25, 110, 143, 587, 3306, 4444, 5432, 6379, 9300, 11211, 27017]
    /// Original destinations seen to speak first, remembered per event loop so that later connections to
    /// them skip the sniff window: at most this many per loop, each for `serverFirstTTL`.
    public var serverFirstCapacity = 1024
    public var serverFirstTTL = TimeAmount.minutes(10)
    /// What a message head may hold: bytes (start line included) and fields.
    public var httpLimits = HTTP1HeadParser.Limits(maxHeadBytes: 64 * 1024, maxFields: 100)
    /// HTTP/2 connections from clients and to upstreams: streams, windows, abuse limits.
    public var http2 = HTTP2Limits()
    /// How long a request head may take to arrive once it has begun.
    public var headerTimeout = TimeAmount.seconds(10)
    /// During a drain, how long a keep-alive connection that just had a response waits for the client's next
    /// request (answered with `Connection: close`) before it closes: a client sends it at once, and closing
    /// under it would fail that request.
    public var drainGrace = TimeAmount.milliseconds(300)
    /// Concurrent downstream connections, all listeners together.
    public var maxConnections = 16384
    public var addForwardedFor = false
    /// W3C trace context (and B3 where it came) on every HTTP request, each hop a span.
    public var tracing = true
    /// Balancing, connect retries and outlier ejection, per registry service.
    public var traffic = TrafficPolicies()
    /// Route rules by lowercased service name.
    public var routes: [String: [RouteRule]] = [:]
    /// `inbound.rateLimit`: requests (and other connections) to the app.
    public var inboundRateLimit: RateLimit?

    /// What a reload may change on the request path, as the loops use it.
    public var routingRules: RoutingRules {
        RoutingRules(rules: routes, policies: traffic, inbound: inboundRateLimit)
    }

    public init() {}

    /// Every port Mesher itself listens on.
    var ownPorts: Set<Int> {
        var ports = otherOwnPorts
        for listener in [outbound, inbound, explicitProxy].compactMap({ $0 }) { ports.insert(Int(listener.port)) }
        return ports
    }

    var writeBufferWaterMark: ChannelOptions.Types.WriteBufferWaterMark {
        .init(low: bufferLimit / 2, high: bufferLimit)
    }
}

extension ProxySettings {
    /// Reads start small (most exchanges are a few KiB) and grow only while they keep filling the buffer:
    /// bulk flows reach 256 KiB per read, a quarter of the syscalls of NIO's 64 KiB cap.
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)

    /// Options of every relayed socket, both sides, set from the channel initializer: the bootstraps'
    /// option lists cost a future chain per option on every connection. `noDelay` for accepted sockets
    /// (ClientBootstrap already sets it).
    static func applySocketOptions(
        _ channel: any Channel, waterMark: ChannelOptions.Types.WriteBufferWaterMark, noDelay: Bool
    ) throws {
        guard let options = channel.syncOptions else { return }
        try options.setOption(.allowRemoteHalfClosure, value: true)
        try options.setOption(.writeBufferWaterMark, value: waterMark)
        try options.setOption(.recvAllocator, value: receiveBuffers)
        if noDelay { try options.setOption(.tcpOption(.tcp_nodelay), value: 1) }
    }
}
