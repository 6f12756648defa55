import NIOCore
import NIOHTTP2
import Routing

/// Multiplexed HTTP/2 connections to upstreams, one pool per event loop: a request becomes a stream on an
/// open connection to its address with room under the peer's `SETTINGS_MAX_CONCURRENT_STREAMS`, else on a
/// new one. Each connection counts once against its service's `maxConnections`, whatever its streams.
final class HTTP2UpstreamPool {
    let eventLoop: any EventLoop
    private let connector: UpstreamConnector
    private let configuration: NIOHTTP2Handler.Configuration
    let limits: HTTP2Limits
    let idleTimeout: TimeAmount
    private var connections: [SocketAddress: [HTTP2UpstreamConnection]] = [:]

    init(eventLoop: any EventLoop, connector: UpstreamConnector, limits: HTTP2Limits, maxHeaderListSize: Int) {
        self.eventLoop = eventLoop
        self.connector = connector
        configuration = limits.configuration(maxHeaderListSize: maxHeaderListSize)
        self.limits = limits
        idleTimeout = limits.upstreamIdleTimeout
    }

    enum Acquired {
        case connection(HTTP2UpstreamConnection)
        /// The service has `maxConnections` open and none of them has room for a stream.
        case overflow
    }

    /// A connection to `address` with a stream reserved on it: an open (or opening) one with room, else a new
    /// one if `limit` allows.
    func acquire(_ address: SocketAddress, limit: UpstreamPool.Limit?) -> Acquired {
        if let connection = connections[address]?.first(where: \.hasRoom) {
            connection.reserve()
            return .connection(connection)
        }
        if let limit, !limit.connections.openIfRoom() { return .overflow }
        let connection = HTTP2UpstreamConnection(address: address, pool: self, limit: limit?.connections)
        connections[address, default: []].append(connection)
        connection.reserve()
        let configuration = configuration
        let opened = connector.connect(to: address, on: eventLoop, timeout: limit?.connectTimeout) { pipeline in
            // No multiplexer: the connection's handler keeps the streams (a channel per stream cost more than
            // all of Mesher's own work on it).
            let http2 = NIOHTTP2Handler(
                mode: .client, connectionConfiguration: configuration.connection,
                streamConfiguration: configuration.stream)
            try pipeline.addHandler(FlushCoalescingHandler())
            try pipeline.addHandler(http2)
            try pipeline.addHandler(HTTP2UpstreamConnection.Handler(connection))
        }
        opened.assumeIsolated().whenFailure { connection.failed($0) }
        return .connection(connection)
    }

    /// The connection closed or goes away: no new stream goes on it.
    func remove(_ connection: HTTP2UpstreamConnection) {
        connections[connection.address]?.removeAll { $0 === connection }
        if connections[connection.address]?.isEmpty == true { connections[connection.address] = nil }
    }
}
