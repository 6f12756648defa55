import HTTP1
import NIOCore
import NIOPosix
import Routing

/// Keep-alive HTTP connections to upstreams, one pool per event loop so that no request hops threads.
/// Only a connection whose last response ended exactly at its framing comes back (`isReusable`). Connections
/// to a service's instances count against its circuit breaker (`ServiceConnections`): with all of them busy,
/// a request waits for one to come back or close (`UpstreamPool+Breaker`).
final class UpstreamPool {
    static let maxIdlePerAddress = 64
    static let idleTimeout = TimeAmount.seconds(60)

    /// Opens a connection to an address with the given handler last in its pipeline, within the given connect
    /// timeout (`nil`: the connector's own).
    typealias Connect = (SocketAddress, UpstreamHTTPHandler, TimeAmount?) -> EventLoopFuture<any Channel>

    let eventLoop: any EventLoop
    private let connect: Connect
    private let limits: HTTP1HeadParser.Limits
    var idle: [SocketAddress: [UpstreamHTTPHandler]] = [:]
    /// Requests waiting for a connection to a service, by its counter, oldest first.
    var waiting: [ObjectIdentifier: [Waiter]] = [:]

    /// `connect`: how new connections are made (embedded tests and the fuzzer bring their own).
    init(eventLoop: any EventLoop, limits: HTTP1HeadParser.Limits, connect: @escaping Connect) {
        self.eventLoop = eventLoop
        self.limits = limits
        self.connect = connect
    }

    convenience init(eventLoop: any EventLoop, limits: HTTP1HeadParser.Limits, connector: UpstreamConnector) {
        self.init(eventLoop: eventLoop, limits: limits) { address, handler, timeout in
            connector.connect(to: address, on: eventLoop, timeout: timeout) { try $0.addHandler(handler) }
        }
    }

    enum Acquired {
        case idle(UpstreamHTTPHandler)
        case connecting(EventLoopFuture<UpstreamHTTPHandler>)
        /// The service's connections are all busy and as many requests wait for one already.
        case overflow
    }

    /// What a new connection counts against: a service's breaker, and how long its connect may take.
    struct Limit {
        let connections: ServiceConnections
        let connectTimeout: TimeAmount
    }

    /// An idle connection to `address` if there is one (unless `fresh`), else a new one if `limit` has room,
    /// else a place in its queue while `wanted` says the request still wants one (made only then: the usual
    /// request allocates no closure).
    func acquire(
        _ address: SocketAddress, fresh: Bool = false, limit: Limit? = nil, wanted: () -> () -> Bool = { { true } }
    ) -> Acquired {
        if !fresh, let handler = takeIdle(address) { return .idle(handler) }
        guard let limit else {
            let handler = UpstreamHTTPHandler(address: address, pool: self, limits: limits)
            return .connecting(connect(address, handler, nil).assumeIsolated().map { _ in handler }.nonisolated())
        }
        if limit.connections.pending >= limit.connections.maxPending { dropUnwanted(limit.connections) }
        switch limit.connections.admit() {
        case .open:
            let promise = eventLoop.makePromise(of: UpstreamHTTPHandler.self)
            open(address, limit: limit, into: promise)
            return .connecting(promise.futureResult)
        case .wait:
            let waiter = Waiter(
                address: address, limit: limit, promise: eventLoop.makePromise(), wanted: wanted())
            waiting[ObjectIdentifier(limit.connections), default: []].append(waiter)
            closeIdle(of: limit.connections)
            return .connecting(waiter.promise.futureResult)
        case .overflow:
            return .overflow
        }
    }

    private func takeIdle(_ address: SocketAddress) -> UpstreamHTTPHandler? {
        while let handler = idle[address]?.popLast() {
            guard handler.isReusable else {
                handler.abandon()
                continue
            }
            handler.markInUse()
            return handler
        }
        return nil
    }

    /// A connection counted against `limit`: it stays counted until it closes, and its request stops
    /// pending when the connect is done.
    func open(_ address: SocketAddress, limit: Limit, into promise: EventLoopPromise<UpstreamHTTPHandler>) {
        let handler = UpstreamHTTPHandler(address: address, pool: self, limits: limits)
        handler.limit = limit
        connect(address, handler, limit.connectTimeout).assumeIsolated().whenComplete { result in
            limit.connections.settledPending()
            switch result {
            case .success(let channel):
                channel.closeFuture.assumeIsolated().whenComplete { _ in self.closed(limit) }
                promise.assumeIsolated().succeed(handler)
            case .failure(let error):
                self.closed(limit)
                promise.fail(error)
            }
        }
    }

    /// Back to the pool after a response that left the connection clean; anything else is closed. A request
    /// waiting for a connection to the same service takes it first.
    func release(_ handler: UpstreamHTTPHandler) {
        handler.receiver = nil
        handler.resumeReading()
        guard handler.isReusable, idle[handler.address, default: []].count < Self.maxIdlePerAddress else {
            return handler.abandon()
        }
        if let limit = handler.limit, handOver(handler, limit: limit) { return }
        idle[handler.address, default: []].append(handler)
        handler.markIdle(timeout: Self.idleTimeout)
    }

    func forget(_ handler: UpstreamHTTPHandler) {
        idle[handler.address]?.removeAll { $0 === handler }
    }
}

extension UpstreamPool.Limit {
    /// What a request to a leased instance counts against: its service's breaker and connect timeout.
    init(_ lease: EndpointLease) {
        self.init(connections: lease.connections, connectTimeout: .nanoseconds(Int64(lease.policy.connectTimeout)))
    }
}
