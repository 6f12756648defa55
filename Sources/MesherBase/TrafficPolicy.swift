/// How requests to one service are balanced, retried and kept away from failing instances.
public struct TrafficPolicy: Sendable, Equatable {
    public var loadBalancer = LoadBalancerKind.ewma
    /// Extra tries after a failed connect, each on another instance where there is one: nothing reached the
    /// app, so this is safe for every method.
    public var connectRetries = 2
    /// Nanoseconds from a request's head to its response's head, retries included (504 `request-timeout`);
    /// 0: none. The body then streams for as long as it flows (`connection.idleTimeout`).
    public var requestTimeout: UInt64 = 15_000_000_000
    /// Requests in flight to the service at once; more are answered 503 `overflow` at once, not queued.
    /// Each event loop takes its share (shared without a lock: a loop may shed while another has room).
    public var maxRequests = 4096
    public var outlierDetection = OutlierDetection()

    public init() {}
}

/// Failure accrual: an instance that fails `consecutiveFailures` times in a row (5xx answers, failed connects)
/// gets no traffic for a while, longer at each new ejection, but never more than `maxEjectionPercent` of a
/// service's instances at once (with every instance failing, all are used rather than none).
public struct OutlierDetection: Sendable, Equatable {
    /// 0: never eject.
    public var consecutiveFailures = 5
    public var baseEjectionTime: UInt64 = 30_000_000_000
    public var maxEjectionPercent = 50
    /// However many times an instance was ejected, it is tried again after this long (Envoy's default).
    public static let maxEjectionTime: UInt64 = 300_000_000_000

    public init() {}

    /// How long the `count`th ejection of an instance lasts.
    public func ejectionTime(count: Int) -> UInt64 {
        let scaled = baseEjectionTime.multipliedReportingOverflow(by: UInt64(max(count, 1)))
        return scaled.overflow
            ? Self.maxEjectionTime : min(scaled.partialValue, max(Self.maxEjectionTime, baseEjectionTime))
    }

    /// Whether one more of `total` instances may be ejected while `ejected` already are.
    public func allowsEjection(ejected: Int, total: Int) -> Bool {
        consecutiveFailures > 0 && (ejected + 1) * 100 <= maxEjectionPercent * total
    }
}

/// The policy of each service: its own where configured, the defaults otherwise.
public struct TrafficPolicies: Sendable, Equatable {
    public var defaults = TrafficPolicy()
    /// By registry name (lowercased).
    public var services: [String: TrafficPolicy] = [:]

    public init(defaults: TrafficPolicy = TrafficPolicy(), services: [String: TrafficPolicy] = [:]) {
        self.defaults = defaults
        self.services = services
    }

    public func policy(for service: String) -> TrafficPolicy {
        services[service] ?? defaults
    }
}
/// How each request (or connection) picks one of a service's instances.
public enum LoadBalancerKind: String, Sendable, CaseIterable {
    /// The cheaper of two random instances, cost being peak-EWMA latency times requests outstanding (Finagle,
    /// Linkerd): a slow or busy instance gets less, a fast one more, with no coordination between loops.
    case ewma
    /// The one of two random instances with fewer requests outstanding.
    case leastRequest = "least-request"
    case roundRobin = "round-robin"
    case random
}
