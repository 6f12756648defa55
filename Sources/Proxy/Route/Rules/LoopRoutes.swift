import HTTP1
import Limits
import MesherBase
import NIOCore

/// What the rules decided for one request, handed to the Forward stage.
struct RouteDecision {
    /// The rule that matched, "service#index".
    var ruleName: String?
    /// Only instances of this subset.
    var subset: SubsetSelector?
    /// The service's policy with the rule's timeout and retries.
    var policy: TrafficPolicy?
    /// A new target (path and query) and the header edits.
    var edits: RequestEdits?
    /// Wait this long first (fault injection).
    var delay: TimeAmount?
    /// Answer it here: a direct response, an injected abort, a rate limit.
    var answer: MesherAnswer?
}

/// How a request is changed on its way upstream.
struct RequestEdits {
    /// Origin-form target to send instead of the client's.
    var target: String?
    var headers = HeaderEdits()
    /// The lowercased names of the fields `headers` removes or sets anew, left out of the client's.
    var droppedFields: Set<[UInt8]> = []
}

/// One event loop's route rules: compiled from `RoutingRules` on the loop, replaced whole on a reload. Only
/// its loop reads it, so the per-request work (match, weighted pick, fault rolls) takes no lock; rate
/// limiters are shared by the loops, lock-free.
final class LoopRoutes {
    private var services: [String: [CompiledRule]] = [:]
    private(set) var inboundLimiter: RequestRateLimiter?
    private var random = FastRandom()

    init(_ rules: RoutingRules) { install(rules) }

    /// Call on the loop.
    func install(_ rules: RoutingRules) {
        services = Dictionary(
            uniqueKeysWithValues: rules.services.map { service, list in
                (service, list.enumerated().map { CompiledRule($1, name: "\(service)#\($0)") })
            })
        inboundLimiter = rules.inboundLimiter
    }

    /// The first rule of `service` that `head` matches, applied; `nil` when none does (or it has none).
    /// `policy` and `now` (monotonic nanoseconds) are asked for only when a rule needs them.
    func decide(
        _ head: HTTP1Head, service: String, policy: @autoclosure () -> TrafficPolicy,
        now: @autoclosure () -> Int64 = LoopRoutes.now()
    ) -> RouteDecision? {
        guard let rules = services[service] else { return nil }
        var request = RequestView(head: head)
        guard let rule = rules.first(where: { $0.matches(&request) }) else { return nil }
        var decision = RouteDecision(ruleName: rule.name)
        if let limiter = rule.limiter, let wait = limiter.acquire(now: now()) {
            decision.answer = .rateLimited(retryAfterNanoseconds: wait)
            return decision
        }
        if let fault = rule.rule.fault {
            if let abort = fault.abort, roll(abort.percent) {
                decision.answer = .faultAbort(status: abort.status)
                return decision
            }
            if let delay = fault.delay, roll(delay.percent) { decision.delay = .nanoseconds(Int64(delay.nanoseconds)) }
        }
        switch rule.rule.action {
        case .directResponse(let status, let body):
            decision.answer = .direct(status: status, body: body)
            return decision
        case .forward(let subsets):
            decision.subset = pick(subsets, total: rule.totalWeight)
        }
        if rule.rule.timeout != nil || rule.rule.retries != nil { decision.policy = policy().overridden(by: rule.rule) }
        let headers = rule.rule.requestHeaders
        if rule.readsPath || !headers.isEmpty {
            var edits = RequestEdits(headers: headers, droppedFields: rule.droppedFields)
            // A rewrite builds on the matched path; else the path goes as matched, with its parameters.
            let path = rule.rule.rewritePrefix == nil ? request.forwardedPath : rule.rewritten(request.path)
            if rule.readsPath, path != request.rawPath {
                edits.target = request.rawQuery.map { path + "?" + $0 } ?? path
            }
            decision.edits = edits
        }
        return decision
    }

    /// Requests to the app beyond `inbound.rateLimit`.
    func admitInbound(now: @autoclosure () -> Int64 = LoopRoutes.now()) -> MesherAnswer? {
        guard let limiter = inboundLimiter, let wait = limiter.acquire(now: now()) else { return nil }
        return .rateLimited(retryAfterNanoseconds: wait)
    }

    static func now() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds) }

    /// `percent` of the time (fractions count).
    private func roll(_ percent: Double) -> Bool {
        percent >= 100 || (percent > 0 && Double(random.next() >> 11) * 0x1p-53 * 100 < percent)
    }

    /// A subset by weight, drawn for each request (also on a kept-alive connection).
    /// `nil` for a subset of every instance (no version, no tags): no filtering to do.
    private func pick(_ subsets: [WeightedSubset], total: Int) -> SubsetSelector? {
        let chosen = draw(subsets, total: total)
        return chosen?.version == nil && chosen?.tags.isEmpty != false ? nil : chosen
    }

    private func draw(_ subsets: [WeightedSubset], total: Int) -> SubsetSelector? {
        guard subsets.count > 1 else { return subsets.first?.subset }
        var draw = Int(random.next() % UInt64(total))
        for entry in subsets {
            if draw < entry.weight { return entry.subset }
            draw -= entry.weight
        }
        return subsets.last?.subset
    }
}
