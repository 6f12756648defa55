/// `routes.<Service>`: rules for the requests to one service, tried in order, the first that matches wins; a
/// request no rule matches goes to any instance, as without rules.
public struct RouteRule: Sendable, Equatable {
    public var match = RequestMatch()
    public var action = RouteAction.forward([])
    /// Request fields set (replacing any of the same name), added, or removed before the request goes on.
    public var requestHeaders = HeaderEdits()
    /// The matched path prefix (the whole path for other matches) replaced by this one.
    public var rewritePrefix: String?
    /// Overrides the service's `requestTimeout` (nanoseconds).
    public var timeout: UInt64?
    public var retries: RouteRetries?
    public var fault: FaultInjection?
    public var rateLimit: RateLimit?

    public init() {}
}

/// What a request must have for the rule to apply; every part given must hold.
public struct RequestMatch: Sendable, Equatable {
    public var path: PathMatch?
    /// Upper case, compared exactly (methods are case-sensitive).
    public var method: String?
    /// Lowercased names.
    public var headers: [(name: String, rule: ValueMatch)] = []
    public var query: [(name: String, rule: ValueMatch)] = []

    public init() {}

    public static func == (a: Self, b: Self) -> Bool {
        a.path == b.path && a.method == b.method && a.headers.elementsEqual(b.headers, by: { $0 == $1 })
            && a.query.elementsEqual(b.query, by: { $0 == $1 })
    }
}

/// On the path after normalization (dot segments removed, repeated slashes merged, unreserved characters
/// decoded), without the query.
public enum PathMatch: Sendable, Equatable {
    case exact(String)
    /// Also segment-wise: "/v2" matches "/v2" and "/v2/x" but not "/v20" (as "/v2/" matches only below it).
    case prefix(String)
    /// POSIX extended syntax, found anywhere unless anchored: "^/admin".
    case regex(String)
}

public enum ValueMatch: Sendable, Equatable {
    case exact(String)
    case regex(String)
    case present
    case absent
}

public enum RouteAction: Sendable, Equatable {
    /// To the service's instances of these subsets, one picked per request by weight (all instances when empty).
    case forward([WeightedSubset])
    /// Answered by Mesher itself.
    case directResponse(status: Int, body: String)
}

/// Instances whose registry entry has this version and these tags (each given part must hold).
public struct SubsetSelector: Sendable, Hashable, CustomStringConvertible {
    public var version: String?
    public var tags: [String: String]

    public init(version: String? = nil, tags: [String: String] = [:]) {
        self.version = version
        self.tags = tags
    }

    public var description: String {
        let parts = (version.map { ["version=\($0)"] } ?? []) + tags.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }
        return parts.isEmpty ? "all" : parts.joined(separator: ",")
    }
}

public struct WeightedSubset: Sendable, Equatable {
    public var subset: SubsetSelector
    public var weight: Int

    public init(subset: SubsetSelector, weight: Int) {
        self.subset = subset
        self.weight = weight
    }
}

public struct HeaderEdits: Sendable, Equatable {
    /// Lowercased names; values checked to be field values.
    public var replace: [(name: String, value: String)] = []
    public var add: [(name: String, value: String)] = []
    public var remove: [String] = []

    public init() {}

    public var isEmpty: Bool { replace.isEmpty && add.isEmpty && remove.isEmpty }

    public static func == (a: Self, b: Self) -> Bool {
        a.replace.elementsEqual(b.replace, by: { $0 == $1 }) && a.add.elementsEqual(b.add, by: { $0 == $1 })
            && a.remove == b.remove
    }
}

/// A route's own retry policy, over its service's.
public struct RouteRetries: Sendable, Equatable {
    public var attempts: Int
    public var on: Set<RetryCondition>?
    public var perTryTimeout: UInt64?

    public init(attempts: Int, on: Set<RetryCondition>? = nil, perTryTimeout: UInt64? = nil) {
        self.attempts = attempts
        self.on = on
        self.perTryTimeout = perTryTimeout
    }
}

/// Testing resilience: a share of the requests waits, or is answered with an error, before going anywhere.
public struct FaultInjection: Sendable, Equatable {
    /// Nanoseconds, and the percentage of requests (0-100, fractions allowed) delayed.
    public var delay: (nanoseconds: UInt64, percent: Double)?
    public var abort: (status: Int, percent: Double)?

    public init() {}

    public static func == (a: Self, b: Self) -> Bool {
        a.delay?.nanoseconds == b.delay?.nanoseconds && a.delay?.percent == b.delay?.percent
            && a.abort?.status == b.abort?.status && a.abort?.percent == b.abort?.percent
    }
}

/// A local token bucket: `requestsPerSecond` on average, `burst` at once after a quiet time; beyond it 429.
public struct RateLimit: Sendable, Equatable {
    public var requestsPerSecond: Double
    public var burst: Int

    public init(requestsPerSecond: Double, burst: Int) {
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst
    }
}

extension TrafficPolicy {
    /// The policy a request of `rule` follows: its service's, with the route's timeout and retries.
    public func overridden(by rule: RouteRule) -> TrafficPolicy {
        var policy = self
        if let timeout = rule.timeout { policy.requestTimeout = timeout }
        if let retries = rule.retries {
            policy.connectRetries = retries.attempts
            if let on = retries.on { policy.retryOn = on }
            if let perTry = retries.perTryTimeout { policy.perTryTimeout = perTry }
        }
        return policy
    }
}
