import MesherBase

/// `routes`: per registry service (any case), its rules in order. Validated entirely at load, so that a
/// request never meets a rule that cannot be applied.
public struct RoutesConfig: Equatable, Sendable {
    public static let percentRange = 0.0...100.0
    public static let statusRange = 200...599
    public static let weightRange = 0...1_000_000
    public static let requestsPerSecondRange = 0.001...1_000_000.0
    public static let burstRange = 1...1_000_000
    public static let maxBodyBytes = 64 << 10
    public static let maxRulesPerService = 1_000

    /// By lowercased service name.
    public var rules: [String: [RouteRule]] = [:]

    public init() {}
}

extension RoutesConfig: Decodable {
    public init(from decoder: any Decoder) throws {
        self.init()
        let services = try decoder.container(keyedBy: AnyKey.self)
        for key in services.allKeys {
            var list = try services.nestedUnkeyedContainer(forKey: key)
            try services.check(
                (list.count ?? 0) <= Self.maxRulesPerService, key, "at most \(Self.maxRulesPerService) rules")
            let name = key.stringValue.lowercased()
            try services.check(self.rules[name] == nil, key, "the service is named twice (names ignore case)")
            var rules: [RouteRule] = []
            while !list.isAtEnd { rules.append(try list.decode(RouteRuleEntry.self).rule) }
            self.rules[name] = rules
        }
    }
}

/// One rule as written.
struct RouteRuleEntry: Decodable {
    var rule = RouteRule()

    enum CodingKeys: String, CodingKey, CaseIterable {
        case match, to, directResponse, requestHeaders, rewrite, timeout, retries, fault, rateLimit
    }
    enum DirectKeys: String, CodingKey, CaseIterable { case status, body }
    enum RewriteKeys: String, CodingKey, CaseIterable { case prefix }
    enum RetryKeys: String, CodingKey, CaseIterable { case attempts, on, perTryTimeout }

    init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        if c.contains(.match) { rule.match = try c.decode(RequestMatchEntry.self, forKey: .match).match }
        try c.check(
            !(c.contains(.to) && c.contains(.directResponse)), .directResponse, "a rule has either 'to' or this")
        if c.contains(.to) { rule.action = .forward(try Self.subsets(c)) }
        if c.contains(.directResponse) {
            let direct = try c.superDecoder(forKey: .directResponse).strictContainer(DirectKeys.self)
            let status = try direct.decode(Int.self, forKey: .status)
            try direct.check(status, in: RoutesConfig.statusRange, .status)
            let body = try direct.decodeIfPresent(String.self, forKey: .body) ?? ""
            try direct.check(body.utf8.count <= RoutesConfig.maxBodyBytes, .body, "at most 64 KiB")
            rule.action = .directResponse(status: status, body: body)
        }
        if c.contains(.requestHeaders) {
            rule.requestHeaders = try c.decode(HeaderEditsEntry.self, forKey: .requestHeaders).edits
        }
        if c.contains(.rewrite) {
            let rewrite = try c.superDecoder(forKey: .rewrite).strictContainer(RewriteKeys.self)
            let prefix = try rewrite.decode(String.self, forKey: .prefix)
            try rewrite.check(RequestMatchEntry.isPath(prefix), .prefix, "must be a path starting with /")
            rule.rewritePrefix = prefix
        }
        if let timeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .timeout) {
            try c.check(timeout, in: TrafficConfig.requestTimeoutRange, .timeout)
            rule.timeout = UInt64(timeout.nanoseconds)
        }
        if c.contains(.retries) { rule.retries = try Self.retries(c.superDecoder(forKey: .retries)) }
        if c.contains(.fault) { rule.fault = try c.decode(FaultEntry.self, forKey: .fault).fault }
        if c.contains(.rateLimit) { rule.rateLimit = try c.decode(RateLimitEntry.self, forKey: .rateLimit).limit }
    }

    private static func subsets(_ c: KeyedDecodingContainer<CodingKeys>) throws -> [WeightedSubset] {
        let entries = try c.decode([SubsetEntry].self, forKey: .to)
        try c.check(!entries.isEmpty, .to, "must name at least one subset")
        let weighted = entries.filter { $0.weight != nil }.count
        try c.check(
            weighted == 0 || weighted == entries.count, .to, "give every subset a weight, or none (equal shares)")
        let subsets = entries.map { WeightedSubset(subset: $0.subset, weight: $0.weight ?? 1) }
        try c.check(subsets.contains { $0.weight > 0 }, .to, "the weights must not all be 0")
        return subsets
    }

    private static func retries(_ decoder: any Decoder) throws -> RouteRetries {
        let c = try decoder.strictContainer(RetryKeys.self)
        let attempts = try c.decode(Int.self, forKey: .attempts)
        try c.check(attempts, in: TrafficConfig.retryAttemptsRange, .attempts)
        var retries = RouteRetries(attempts: attempts)
        retries.on = try c.decodeChoices(.on)
        if let perTry = try c.decodeIfPresent(ConfigDuration.self, forKey: .perTryTimeout) {
            try c.check(perTry, in: TrafficConfig.requestTimeoutRange, .perTryTimeout)
            retries.perTryTimeout = UInt64(perTry.nanoseconds)
        }
        return retries
    }
}

/// `{version: 2.0.0, tags: {zone: a}, weight: 10}`.
struct SubsetEntry: Decodable {
    var subset = SubsetSelector()
    var weight: Int?

    enum CodingKeys: String, CodingKey, CaseIterable { case version, tags, weight }

    init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        subset.version = try c.decodeIfPresent(String.self, forKey: .version)
        subset.tags = try c.decodeIfPresent([String: String].self, forKey: .tags) ?? [:]
        weight = try c.decodeIfPresent(Int.self, forKey: .weight)
        if let weight { try c.check(weight, in: RoutesConfig.weightRange, .weight) }
    }
}

/// `{delay: {fixed: 100ms, percent: 10}, abort: {status: 503, percent: 1}}`.
struct FaultEntry: Decodable {
    var fault = FaultInjection()

    enum CodingKeys: String, CodingKey, CaseIterable { case delay, abort }
    enum DelayKeys: String, CodingKey, CaseIterable { case fixed, percent }
    enum AbortKeys: String, CodingKey, CaseIterable { case status, percent }

    init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        if c.contains(.delay) {
            let delay = try c.superDecoder(forKey: .delay).strictContainer(DelayKeys.self)
            let fixed = try delay.decode(ConfigDuration.self, forKey: .fixed)
            try delay.check(fixed, in: ConfigDuration(seconds: 0)...ConfigDuration(minutes: 5), .fixed)
            let percent = try delay.decode(Double.self, forKey: .percent)
            try delay.check(percent, in: RoutesConfig.percentRange, .percent)
            fault.delay = (UInt64(fixed.nanoseconds), percent)
        }
        if c.contains(.abort) {
            let abort = try c.superDecoder(forKey: .abort).strictContainer(AbortKeys.self)
            let status = try abort.decode(Int.self, forKey: .status)
            try abort.check(status, in: RoutesConfig.statusRange, .status)
            let percent = try abort.decode(Double.self, forKey: .percent)
            try abort.check(percent, in: RoutesConfig.percentRange, .percent)
            fault.abort = (status, percent)
        }
    }
}

/// `{requestsPerSecond: 100, burst: 50}`; the burst is a second's worth unless given.
struct RateLimitEntry: Decodable {
    var limit: RateLimit

    enum CodingKeys: String, CodingKey, CaseIterable { case requestsPerSecond, burst }

    init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        let rate = try c.decode(Double.self, forKey: .requestsPerSecond)
        try c.check(rate, in: RoutesConfig.requestsPerSecondRange, .requestsPerSecond)
        let burst = try c.decodeIfPresent(Int.self, forKey: .burst) ?? max(1, Int(rate.rounded(.up)))
        try c.check(burst, in: RoutesConfig.burstRange, .burst)
        limit = RateLimit(requestsPerSecond: rate, burst: burst)
    }
}
