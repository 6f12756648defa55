import Logging
import NIOCore
import Routing

/// A connect to a service's instance that failed goes to another instance, as often as the service's policy
/// allows (`retries.attempts`): nothing reached the app, so this is safe for any request or connection.
struct ConnectRetry {
    let routes: RouteTable
    let endpoints: EndpointTable
    let logger: Logger
    /// The instances already tried, in order.
    private(set) var tried: [EndpointKey] = []

    init(routes: RouteTable, endpoints: EndpointTable, logger: Logger) {
        self.routes = routes
        self.endpoints = endpoints
        self.logger = logger
    }

    /// `failed`'s connect failed: its instance is charged with a failure, and the route to try next comes
    /// back, or `nil` when the policy allows no more tries (or `failed` was no service's).
    mutating func next(after failed: Routed) -> Routed? {
        guard let lease = failed.lease else { return nil }
        Self.report(lease.failed(now: NIODeadline.now().uptimeNanoseconds), of: lease, logger: logger)
        tried.append(lease.key)
        guard tried.count <= endpoints.policies.policy(for: lease.service).connectRetries else { return nil }
        let next = routes.pick(lease.service, endpoints: endpoints, excluding: tried)
        return next.address == nil ? nil : next
    }

    /// An ejection is worth a line: it changes where a service's traffic goes for a while.
    static func report(_ event: EndpointTable.Event?, of lease: EndpointLease, logger: Logger) {
        guard case .ejected(let key, let nanoseconds, let count) = event else { return }
        logger.warning(
            "instance ejected after consecutive failures",
            metadata: [
                "service": "\(lease.service)", "instance": "\(key)", "seconds": "\(nanoseconds / 1_000_000_000)",
                "ejections": "\(count)",
            ])
    }
}
