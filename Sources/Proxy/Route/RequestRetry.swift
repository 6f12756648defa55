import Logging
import MesherBase
import NIOCore
import Routing
import Telemetry

/// A request (or connection) to a service's instance that failed as the service's `retries.on` names goes to
/// another instance, as often as `retries.attempts` and the retry budget allow. Whether the request may be
/// sent again at all (idempotent, no body) is the caller's to say: a failed connect reached no app.
struct RequestRetry {
    let routes: RouteTable
    let endpoints: EndpointTable
    let logger: Logger
    let metrics: LoopMetrics?
    /// The instances already tried, in order.
    private(set) var tried: [EndpointKey] = []

    init(routes: RouteTable, endpoints: EndpointTable, logger: Logger, metrics: LoopMetrics? = nil) {
        self.routes = routes
        self.endpoints = endpoints
        self.logger = logger
        self.metrics = metrics
    }

    /// How many tries went out so far (1 before any retry).
    var attempts: Int { tried.count + 1 }

    /// `failed` failed with `condition`: its instance is charged with a failure (unless its answer already
    /// settled it), and the route to try next comes back, or `nil` when the policy does not retry this, has
    /// no tries or budget left, or `failed` was no service's.
    mutating func next(after failed: Routed, _ condition: RetryCondition) -> Routed? {
        guard let lease = failed.lease else { return nil }
        let now = NIODeadline.now().uptimeNanoseconds
        Self.report(lease.failed(now: now), of: lease, logger: logger, metrics: metrics)
        let policy = lease.policy
        guard policy.retryOn.contains(condition) || (condition.isStatus && policy.retryOn.contains(.serverError))
        else { return nil }
        // The last try's failure leaves `tried` as it was: `attempts` counts the tries that went out.
        guard tried.count < policy.connectRetries, endpoints.retryAllowed(lease.service, now: now) else { return nil }
        tried.append(lease.key)
        let next = routes.pick(
            lease.service, subset: lease.subset, policy: lease.policy, endpoints: endpoints, excluding: tried)
        guard next.address != nil else { return nil }
        metrics?.retried(service: lease.service, condition: condition.rawValue)
        return next
    }

    /// How long to wait before the retry `next` just gave: random up to the backoff's cap (full jitter).
    func backoff(for route: Routed) -> TimeAmount {
        guard let lease = route.lease else { return .zero }
        let cap = lease.policy.retryBackoff.cap(retry: tried.count)
        return .nanoseconds(Int64(cap == 0 ? 0 : UInt64.random(in: 0...cap)))
    }

    /// Whether `status` from `route`'s instance is one its policy retries.
    func retries(status: Int, from route: Routed) -> RetryCondition? {
        guard status >= 500, let lease = route.lease else { return nil }
        let on = lease.policy.retryOn
        if on.contains(.gatewayError) && RetryCondition.gatewayError.matches(status: status) { return .gatewayError }
        if on.contains(.serverError) && RetryCondition.serverError.matches(status: status) { return .serverError }
        return nil
    }

    /// An ejection is worth a line: it changes where a service's traffic goes for a while.
    static func report(
        _ event: EndpointTable.Event?, of lease: EndpointLease, logger: Logger, metrics: LoopMetrics?
    ) {
        guard case .ejected(let key, let nanoseconds, let count) = event else { return }
        metrics?.ejected(service: lease.service)
        logger.warning(
            "instance ejected after consecutive failures",
            metadata: [
                "service": "\(lease.service)", "instance": "\(key)", "seconds": "\(nanoseconds / 1_000_000_000)",
                "ejections": "\(count)",
            ])
    }
}

extension RetryCondition {
    /// A condition judged on an answer's status.
    var isStatus: Bool { self == .gatewayError || self == .serverError }
}
