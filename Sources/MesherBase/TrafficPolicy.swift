/// How requests to one service are balanced, retried and kept away from failing instances.
public struct TrafficPolicy: Sendable, Equatable {
    public var loadBalancer = LoadBalancerKind.ewma
    /// Nanoseconds a connect to one of the service's instances may take before the next instance is tried
    /// (instances are near: a second is long). Other destinations keep `connection.connectTimeout`.
    public var connectTimeout: UInt64 = 1_000_000_000
    /// Extra tries, each on another instance where there is one, for what `retryOn` names.
    public var connectRetries = 2
    /// When to try again. A failed connect reached no app: safe for every method. The others apply to
    /// idempotent requests only (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) with a body up to `retryBodyLimit`:
    /// a POST that reached an instance is never sent twice.
    public var retryOn: Set<RetryCondition> = [.connectFailure]
    /// Retries may add at most `ratio` of a service's requests, plus `minPerSecond` (Finagle's retry budget):
    /// with every instance failing, no retry storm.
    public var retryBudget = RetryBudgetSettings()
    /// Nanoseconds one try may take to its response head before the next goes (as a gateway error would);
    /// 0: none (`requestTimeout` still bounds all tries).
    public var perTryTimeout: UInt64 = 0
    /// Before the nth retry: a random wait up to min(max, base x 2^(n-1)) (exponential, full jitter).
    public var retryBackoff = RetryBackoff()
    /// A request body up to this many bytes is kept while it streams, so that a retry can send it again; a
    /// larger one is never retried once it reached an instance (it is streamed, not held).
    public var retryBodyLimit = 64 * 1024
    /// Nanoseconds from a request's head to its response's head, retries included (504 `request-timeout`);
    /// 0: none. The body then streams for as long as it flows (`connection.idleTimeout`).
    public var requestTimeout: UInt64 = 15_000_000_000
    /// Requests in flight to the service at once; more are answered 503 `overflow` at once, not queued.
    /// Each event loop takes its share (shared without a lock: a loop may shed while another has room).
    public var maxRequests = 4096
    /// Upstream connections open to the service's instances at once (HTTP and TCP). A request that finds
    /// them all busy waits for one, as one of `maxPendingRequests`; a TCP connection beyond it is refused.
    public var maxConnections = 4096
    /// Requests waiting for an upstream connection (being opened, or for one of `maxConnections` to come
    /// free); more are answered 503 `overflow`. Shared by the loops like `maxRequests`.
    public var maxPendingRequests = 1024
    public var outlierDetection = OutlierDetection()

    public init() {}
}

/// What makes a request worth another try.
public enum RetryCondition: String, Sendable, CaseIterable {
    /// The connect failed (refused, timed out): nothing reached the app.
    case connectFailure = "connect-failure"
    /// The connection broke before any byte of the response.
    case reset
    /// 502, 503 or 504.
    case gatewayError = "gateway-error"
    /// Any 5xx.
    case serverError = "5xx"
    /// A gRPC call answered UNAVAILABLE (`grpc-status: 14`), or whose stream the instance reset before any
    /// answer (what the client would see as UNAVAILABLE): sent again whatever its method, since gRPC calls are
    /// POSTs. Opt-in: the instance may have begun the call.
    case unavailable

    public func matches(status: Int) -> Bool {
        switch self {
        case .gatewayError: status == 502 || status == 503 || status == 504
        case .serverError: (500...599).contains(status)
        case .connectFailure, .reset, .unavailable: false
        }
    }
}

public struct RetryBackoff: Sendable, Equatable {
    public var base: UInt64 = 25_000_000
    public var max: UInt64 = 250_000_000

    public init() {}

    /// The longest wait before retry number `retry` (1 for the first).
    public func cap(retry: Int) -> UInt64 {
        let shift = UInt64(Swift.max(0, Swift.min(retry - 1, 20)))
        return Swift.min(max, base << shift)
    }
}

public struct RetryBudgetSettings: Sendable, Equatable {
    public var ratio = 0.2
    public var minPerSecond = 10.0

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
