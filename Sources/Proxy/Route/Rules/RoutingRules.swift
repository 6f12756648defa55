import Limits
import MesherBase

/// Everything a reload can change on the request path, as one value built off the event loops: the route
/// rules, the traffic policies, the inbound limit, and the rate limiters they share across loops. Each loop
/// compiles its own copy (`LoopRoutes`) and swaps it in at once; a request sees the old table or the new.
public struct RoutingRules: Sendable {
    public let policies: TrafficPolicies
    private(set) var services: [String: [SharedRule]]
    private(set) var inbound: SharedLimit?

    /// A rule with the limiter every loop's copy of it takes tokens from.
    struct SharedRule: Sendable {
        let rule: RouteRule
        var limiter: RequestRateLimiter?
    }

    struct SharedLimit: Sendable {
        let limit: RateLimit
        let limiter: RequestRateLimiter

        init(_ limit: RateLimit) {
            self.limit = limit
            limiter = RequestRateLimiter(requestsPerSecond: limit.requestsPerSecond, burst: limit.burst)
        }
    }

    /// `rules`: by lowercased service name, validated (regular expressions compile).
    public init(rules: [String: [RouteRule]] = [:], policies: TrafficPolicies = .init(), inbound: RateLimit? = nil) {
        self.policies = policies
        services = rules.mapValues { list in
            list.map { SharedRule(rule: $0, limiter: $0.rateLimit.map { SharedLimit($0).limiter }) }
        }
        self.inbound = inbound.map(SharedLimit.init)
    }

    var inboundLimiter: RequestRateLimiter? { inbound?.limiter }

    /// These rules with the token buckets of `old` where a limit stayed the same (same service, same place,
    /// same rate and burst): a reload does not hand every client a fresh burst.
    func keepingLimiters(of old: RoutingRules) -> RoutingRules {
        var kept = self
        for (name, rules) in services {
            guard let previous = old.services[name] else { continue }
            for (index, shared) in rules.enumerated()
            where index < previous.count && shared.rule.rateLimit != nil
                && previous[index].rule.rateLimit == shared.rule.rateLimit
            {
                kept.services[name]?[index].limiter = previous[index].limiter
            }
        }
        if let limit = inbound?.limit, old.inbound?.limit == limit { kept.inbound = old.inbound }
        return kept
    }
}
