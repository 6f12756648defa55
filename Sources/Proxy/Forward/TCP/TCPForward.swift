import NIOCore
import Routing

/// The byte relay of one connection: connects where a route leads and pairs the upstream side with the
/// downstream one.
struct TCPForward {
    let connection: DownstreamConnection
    let connector: UpstreamConnector
    let loopGuard: LoopGuard

    /// Connects where `route` leads and pairs the upstream with `downstreamHandler` to relay bytes; a failed
    /// connect to a service's instance goes to another as `retry` allows. `beforePairing` runs once connected
    /// (CONNECT answers 200 there); `onFailure` replaces the reset.
    func start(
        to route: Routed, _ downstreamHandler: RelayHandler, retry: RequestRetry? = nil,
        beforePairing: (() -> Void)? = nil, onFailure: ((ConnectionOutcome) -> Void)? = nil
    ) {
        let connection = self.connection
        let connector = self.connector
        let loopGuard = self.loopGuard
        let eventLoop = connection.channel.eventLoop
        var retry = retry
        connection.connectStarted()
        let failed = { (outcome: ConnectionOutcome) in
            connection.record.fail(outcome)
            connection.connectFinished(upstreamOpen: false)
            if let onFailure { onFailure(outcome) } else { resetConnection(connection.channel) }
        }
        func connect(_ route: Routed, to address: SocketAddress) {
            if connection.labels.original == nil { connection.labels.upstream = address }
            // Never one of Mesher's own ports (CONNECT to the admin port through the explicit proxy, say).
            if let refusal = loopGuard.refusal(for: address, local: nil) { return failed(refusal) }
            // A service's connections count against its breaker until they close; none is queued.
            let lease = route.lease
            if let lease, !lease.connections.openIfRoom() {
                connection.metrics?.overflowed(service: lease.service)
                return failed(.overflow)
            }
            let timeout = lease.map { TimeAmount.nanoseconds(Int64($0.policy.connectTimeout)) }
            let upstreamHandler = RelayHandler(side: .upstream, connection: connection)
            connector.connect(to: address, on: eventLoop, timeout: timeout) { try $0.addHandler(upstreamHandler) }
                .assumeIsolated().whenComplete { result in
                    if let connections = lease?.connections {
                        switch result {
                        case .success(let upstream):
                            upstream.closeFuture.assumeIsolated().whenComplete { _ in connections.closed() }
                        case .failure: connections.closed()
                        }
                    }
                    switch result {
                    case .success(let upstream):
                        lease?.connected(now: NIODeadline.now().uptimeNanoseconds)
                        connection.connectFinished(upstreamOpen: true)
                        guard connection.channel.isActive else { return upstream.close(promise: nil) }
                        beforePairing?()
                        RelayHandler.pair(downstreamHandler, upstreamHandler)
                    case .failure(let error):
                        connection.metrics?.connectFailed(
                            service: route.serviceName, reason: ConnectionOutcome(connectError: error).rawValue)
                        if connection.channel.isActive, let next = retry?.next(after: route, .connectFailure),
                            let address = next.address
                        {
                            let wait = retry?.backoff(for: next) ?? .zero
                            guard wait > .zero else { return connect(next, to: address) }
                            eventLoop.assumeIsolated().scheduleTask(in: wait) {
                                if connection.channel.isActive { connect(next, to: address) }
                            }
                            return
                        }
                        failed(ConnectionOutcome(connectError: error))
                    }
                }
        }
        // Addresses are known except for host names (explicit proxy), resolved off the event loop.
        if let address = route.address { return connect(route, to: address) }
        route.resolveAddress(on: eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let address): connect(route, to: address)
            case .failure: failed(.connectFailed)
            }
        }
    }
}
