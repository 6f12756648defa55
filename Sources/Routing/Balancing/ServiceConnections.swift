/// One event loop's count of the upstream connections open to one service's instances, and of the requests
/// waiting for one: the `maxConnections` and `maxPendingRequests` of its circuit breaker. Each loop holds its
/// share of both, so counting takes no lock.
public final class ServiceConnections {
    /// What a request that needs a new connection may do.
    public enum Admission: Equatable {
        /// Open one: it counts as open (and the request as pending) from now on.
        case open
        /// Every connection the loop may open is open: wait for one as a pending request.
        case wait
        /// As many requests wait already: answer `overflow`.
        case overflow
    }

    public private(set) var maxOpen: Int
    public private(set) var maxPending: Int
    public private(set) var open = 0
    public private(set) var pending = 0

    init(maxOpen: Int, maxPending: Int) {
        self.maxOpen = max(maxOpen, 1)
        self.maxPending = max(maxPending, 0)
    }

    /// New limits from a reload: what is open or waiting stays, and counts against them.
    func resize(maxOpen: Int, maxPending: Int) {
        self.maxOpen = max(maxOpen, 1)
        self.maxPending = max(maxPending, 0)
    }

    /// A request needs a new connection (none idle): admitted as `Admission` says, and counted.
    public func admit() -> Admission {
        if open < maxOpen {
            open += 1
            pending += 1
            return .open
        }
        guard pending < maxPending else { return .overflow }
        pending += 1
        return .wait
    }

    /// One more connection if there is room (then it is counted open): a TCP connection to an instance, which
    /// has no queue (a byte relay has no request to hold), or a waiting request's when one closed.
    public func openIfRoom() -> Bool {
        guard open < maxOpen else { return false }
        open += 1
        return true
    }

    /// A pending request got its connection, or gave up waiting.
    public func settledPending() {
        pending = max(0, pending - 1)
    }

    /// A connection (or a connect that failed) is gone.
    public func closed() {
        open = max(0, open - 1)
    }
}
