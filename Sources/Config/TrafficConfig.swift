import MesherBase

/// `traffic`: how requests to registry services are balanced, retried and kept away from failing instances;
/// `defaults` for every service, and per service only the fields that differ.
public struct TrafficConfig: Equatable, Sendable {
    public static let retryAttemptsRange = 0...5
    public static let consecutiveFailuresRange = 0...1000
    public static let baseEjectionTimeRange = ConfigDuration(seconds: 1)...ConfigDuration(minutes: 60)
    public static let maxEjectionPercentRange = 0...100
    public static let requestTimeoutRange = ConfigDuration(seconds: 0)...ConfigDuration(hours: 1)
    public static let maxRequestsRange = 1...1_000_000
    public static let maxPendingRequestsRange = 0...1_000_000
    public static let connectTimeoutRange = ConfigDuration(milliseconds: 10)...ConfigDuration(minutes: 5)
    public static let bodyLimitRange = ByteSize(bytes: 0)...ByteSize(bytes: 16 << 20)
    public static let backoffRange = ConfigDuration(milliseconds: 0)...ConfigDuration(seconds: 10)
    public static let budgetRatioRange = 0.0...1.0
    public static let budgetMinPerSecondRange = 0.0...10_000.0

    /// The defaults themselves are `TrafficPolicy`'s (MesherBase), which the proxy uses as they are.
    public var policies = TrafficPolicies()

    public init() {}
}

extension TrafficConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case defaults, services }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        if c.contains(.defaults) {
            try Self.decode(&policies.defaults, from: c.superDecoder(forKey: .defaults))
        }
        guard c.contains(.services) else { return }
        let services = try c.nestedContainer(keyedBy: AnyKey.self, forKey: .services)
        for key in services.allKeys {
            // A service's own fields over the defaults, whichever comes first in the file.
            var policy = policies.defaults
            try Self.decode(&policy, from: services.superDecoder(forKey: key))
            policies.services[key.stringValue.lowercased()] = policy
        }
    }

    enum PolicyKeys: String, CodingKey, CaseIterable {
        case loadBalancer, connectTimeout, requestTimeout, retries, outlierDetection, circuitBreaker
    }
    enum BreakerKeys: String, CodingKey, CaseIterable { case maxConnections, maxPendingRequests, maxRequests }
    enum RetryKeys: String, CodingKey, CaseIterable { case attempts, on, perTryTimeout, budget, backoff, bodyLimit }
    enum BackoffKeys: String, CodingKey, CaseIterable { case base, max }
    enum BudgetKeys: String, CodingKey, CaseIterable { case ratio, minPerSecond }
    enum OutlierKeys: String, CodingKey, CaseIterable {
        case consecutiveFailures, baseEjectionTime, maxEjectionPercent
    }

    /// Overwrites the fields of `policy` that the mapping has.
    static func decode(_ policy: inout TrafficPolicy, from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(PolicyKeys.self)
        try c.decodeChoice(&policy.loadBalancer, .loadBalancer)
        try decode(&policy.connectTimeout, c, .connectTimeout, in: connectTimeoutRange)
        try decode(&policy.requestTimeout, c, .requestTimeout, in: requestTimeoutRange)
        if c.contains(.circuitBreaker) {
            let breaker = try c.superDecoder(forKey: .circuitBreaker).strictContainer(BreakerKeys.self)
            try breaker.decode(&policy.maxConnections, .maxConnections, in: maxRequestsRange)
            try breaker.decode(&policy.maxPendingRequests, .maxPendingRequests, in: maxPendingRequestsRange)
            try breaker.decode(&policy.maxRequests, .maxRequests, in: maxRequestsRange)
        }
        if c.contains(.retries) {
            let retries = try c.superDecoder(forKey: .retries).strictContainer(RetryKeys.self)
            try retries.decode(&policy.connectRetries, .attempts, in: retryAttemptsRange)
            if let conditions: Set<RetryCondition> = try retries.decodeChoices(.on) { policy.retryOn = conditions }
            try decode(&policy.perTryTimeout, retries, .perTryTimeout, in: requestTimeoutRange)
            var bodyLimit = ByteSize(bytes: policy.retryBodyLimit)
            try retries.decode(&bodyLimit, .bodyLimit, in: bodyLimitRange)
            policy.retryBodyLimit = bodyLimit.bytes
            if retries.contains(.backoff) {
                let backoff = try retries.superDecoder(forKey: .backoff).strictContainer(BackoffKeys.self)
                try decode(&policy.retryBackoff.base, backoff, .base, in: backoffRange)
                try decode(&policy.retryBackoff.max, backoff, .max, in: backoffRange)
            }
            if retries.contains(.budget) {
                let budget = try retries.superDecoder(forKey: .budget).strictContainer(BudgetKeys.self)
                try budget.decode(&policy.retryBudget.ratio, .ratio, in: budgetRatioRange)
                try budget.decode(&policy.retryBudget.minPerSecond, .minPerSecond, in: budgetMinPerSecondRange)
            }
        }
        if c.contains(.outlierDetection) {
            let outlier = try c.superDecoder(forKey: .outlierDetection).strictContainer(OutlierKeys.self)
            var detection = policy.outlierDetection
            try outlier.decode(&detection.consecutiveFailures, .consecutiveFailures, in: consecutiveFailuresRange)
            var base = ConfigDuration(milliseconds: Int64(detection.baseEjectionTime / 1_000_000))
            try outlier.decode(&base, .baseEjectionTime, in: baseEjectionTimeRange)
            detection.baseEjectionTime = UInt64(base.nanoseconds)
            try outlier.decode(&detection.maxEjectionPercent, .maxEjectionPercent, in: maxEjectionPercentRange)
            policy.outlierDetection = detection
        }
    }

    /// A duration field kept as nanoseconds by the policy.
    static func decode<Key>(
        _ nanoseconds: inout UInt64, _ c: KeyedDecodingContainer<Key>, _ key: Key, in range: ClosedRange<ConfigDuration>
    ) throws {
        var value = ConfigDuration(milliseconds: Int64(nanoseconds / 1_000_000))
        try c.decode(&value, key, in: range)
        nanoseconds = UInt64(value.nanoseconds)
    }
}
