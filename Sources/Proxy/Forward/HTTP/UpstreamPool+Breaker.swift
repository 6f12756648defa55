import NIOCore
import Routing

/// The queue of a service's circuit breaker: requests that found its `maxConnections` busy wait (at most
/// `maxPendingRequests` of them) for a connection of the service to come back to the pool, which goes to the
/// first one bound for the same address, or to close, which lets the first one open its own.
extension UpstreamPool {
    final class Waiter {
        let address: SocketAddress
        let limit: Limit
        let promise: EventLoopPromise<UpstreamHTTPHandler>
        /// False once the request was answered otherwise (timed out, the client left).
        let wanted: () -> Bool

        init(
            address: SocketAddress, limit: Limit, promise: EventLoopPromise<UpstreamHTTPHandler>,
            wanted: @escaping () -> Bool
        ) {
            self.address = address
            self.limit = limit
            self.promise = promise
            self.wanted = wanted
        }

        /// Stops waiting without a connection.
        func giveUp() {
            limit.connections.settledPending()
            promise.fail(ChannelError.connectPending)
        }
    }

    /// `handler` came back clean: the first waiter for its address takes it; when only waiters for other
    /// addresses remain, it closes so that one of them can open its own.
    func handOver(_ handler: UpstreamHTTPHandler, limit: Limit) -> Bool {
        // The usual release: nobody waits anywhere on this loop.
        guard !waiting.isEmpty else { return false }
        let key = ObjectIdentifier(limit.connections)
        dropUnwanted(limit.connections)
        guard var queue = waiting[key], !queue.isEmpty else { return false }
        if let index = queue.firstIndex(where: { $0.address == handler.address }) {
            let waiter = queue.remove(at: index)
            waiting[key] = queue.isEmpty ? nil : queue
            handler.markInUse()
            limit.connections.settledPending()
            waiter.promise.assumeIsolated().succeed(handler)
        } else {
            handler.abandon()
        }
        return true
    }

    /// A connection counted against `limit` closed (or failed to open): the first waiter opens one.
    func closed(_ limit: Limit) {
        limit.connections.closed()
        let key = ObjectIdentifier(limit.connections)
        dropUnwanted(limit.connections)
        guard var queue = waiting[key], !queue.isEmpty, limit.connections.openIfRoom() else { return }
        let waiter = queue.removeFirst()
        waiting[key] = queue.isEmpty ? nil : queue
        open(waiter.address, limit: waiter.limit, into: waiter.promise)
    }

    /// Waiters whose request ended meanwhile leave the queue (and stop counting as pending).
    func dropUnwanted(_ connections: ServiceConnections) {
        let key = ObjectIdentifier(connections)
        guard let queue = waiting[key] else { return }
        var kept: [Waiter] = []
        for waiter in queue {
            if waiter.wanted() { kept.append(waiter) } else { waiter.giveUp() }
        }
        waiting[key] = kept.isEmpty ? nil : kept
    }

    /// A request waits while an idle connection of the same service to another address holds a place:
    /// close one, which frees it.
    func closeIdle(of connections: ServiceConnections) {
        for (address, handlers) in idle {
            guard let index = handlers.firstIndex(where: { $0.limit?.connections === connections }) else { continue }
            let handler = handlers[index]
            idle[address]?.remove(at: index)
            return handler.abandon()
        }
    }
}
