import HTTP1
import MesherBase

/// What the Route stage decides of a request before an instance is picked, whichever HTTP version it came in:
/// where it goes, what its service's rules say (answer here, wait, which subset, what changes), and the
/// traffic policy it goes with.
struct RoutePlan {
    let target: RouteTarget
    let decision: RouteDecision?
    let policy: TrafficPolicy
}

extension HTTPForwardContext {
    /// The plan for `head`, which names `authority`, on a connection `accepted` as it was.
    func plan(_ head: HTTP1Head, authority: String?, accepted: Accepted) -> RoutePlan {
        let target = routes.target(host: authority, accepted: accepted)
        // The service's policy, looked up once: the rules may override it.
        let servicePolicy = target.serviceName.map { endpoints.policies.policy(for: $0) }
        var decision: RouteDecision?
        if let service = target.serviceName, let servicePolicy {
            decision = rules.decide(head, service: service, policy: servicePolicy)
        } else if accepted.direction == .inbound, let refusal = rules.admitInbound() {
            decision = RouteDecision(answer: refusal)
        }
        let policy = decision?.policy ?? servicePolicy ?? endpoints.policies.defaults
        return RoutePlan(target: target, decision: decision, policy: policy)
    }
}
