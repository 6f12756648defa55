import Config
import HTTP1
import NIOCore

/// What the data path needs from the configuration, converted once at start.
struct RelaySettings: Sendable {
    var connectTimeout: TimeAmount
    var idleTimeout: TimeAmount
    var writeBufferWaterMark: ChannelOptions.Types.WriteBufferWaterMark
    var proxyMark: UInt32?
    /// Mesher's own ports (capture listeners, explicit proxy, admin, DNS): a local destination on one of them
    /// is a loop, or someone using Mesher to reach itself.
    var ownPorts: Set<Int>
    var sniffWindow: TimeAmount
    var opaquePorts: Set<UInt16>
    /// What a message head may hold: bytes (start line included) and fields.
    var httpLimits: HTTP1HeadParser.Limits
    /// How long a request head may take to arrive once it has begun.
    var headerTimeout: TimeAmount
    /// Concurrent downstream connections, all listeners together.
    var maxConnections: Int
    var addForwardedFor: Bool
    /// This host's addresses: a destination among them on one of Mesher's ports is Mesher itself, and inbound
    /// connections may go nowhere else.
    var localAddresses: LocalAddressTable

    init(_ config: MesherConfig, proxyMark: UInt32?, localAddresses: LocalAddressTable) {
        connectTimeout = .nanoseconds(config.connection.connectTimeout.nanoseconds)
        idleTimeout = .nanoseconds(config.connection.idleTimeout.nanoseconds)
        let limit = config.connection.bufferLimit.bytes
        writeBufferWaterMark = .init(low: limit / 2, high: limit)
        self.proxyMark = proxyMark
        ownPorts = [Int(config.outbound.port), Int(config.inbound.port)]
        if config.explicitProxy.enabled { ownPorts.insert(Int(config.explicitProxy.port)) }
        if config.admin.enabled { ownPorts.insert(Int(config.admin.port)) }
        if config.dns.enabled { ownPorts.insert(Int(config.dns.port)) }
        sniffWindow = .nanoseconds(config.sniff.window.nanoseconds)
        opaquePorts = config.sniff.allOpaquePorts
        httpLimits = .init(maxHeadBytes: config.http.maxHeaderBytes.bytes, maxFields: config.http.maxHeaders)
        headerTimeout = .nanoseconds(config.http.headerTimeout.nanoseconds)
        maxConnections = config.connection.maxConnections
        addForwardedFor = config.http.forwardedFor
        self.localAddresses = localAddresses
    }
}

extension RelaySettings {
    /// Reads start small (most exchanges are a few KiB) and grow only while they keep filling the buffer:
    /// bulk flows reach 256 KiB per read, a quarter of the syscalls of NIO's 64 KiB cap.
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)

    /// Options of every relayed socket, both sides, set from the channel initializer: the bootstraps'
    /// option lists cost a future chain per option on every connection. `noDelay` for accepted sockets
    /// (ClientBootstrap already sets it).
    func applySocketOptions(_ channel: any Channel, noDelay: Bool) throws {
        guard let options = channel.syncOptions else { return }
        try options.setOption(.allowRemoteHalfClosure, value: true)
        try options.setOption(.writeBufferWaterMark, value: writeBufferWaterMark)
        try options.setOption(.recvAllocator, value: Self.receiveBuffers)
        if noDelay { try options.setOption(.tcpOption(.tcp_nodelay), value: 1) }
    }
}

extension SocketAddress {
    /// The raw address bytes (4 or 16), for comparisons without string formatting.
    var ipBytes: [UInt8]? {
        switch self {
        case .v4(let address):
            withUnsafeBytes(of: address.address.sin_addr) { Array($0) }
        case .v6(let address):
            withUnsafeBytes(of: address.address.sin6_addr) { Array($0) }
        case .unixDomainSocket:
            nil
        }
    }
}
