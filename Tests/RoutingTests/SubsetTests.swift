import Discovery
import MesherBase
import Testing

@testable import Routing

struct SubsetTests {
    let instances = [
        ServiceInstance(service: "svc", address: "198.18.0.2", port: 80, version: "1.0.0", tags: ["zone": "a"]),
        ServiceInstance(service: "svc", address: "198.18.0.3", port: 80, version: "2.0.0", tags: ["zone": "a"]),
        ServiceInstance(service: "svc", address: "198.18.0.4", port: 80, version: "2.0.0", tags: ["zone": "b"]),
    ]

    @Test func selectorsMatchVersionAndTags() {
        #expect(instances.filter(SubsetSelector(version: "2.0.0").matches).count == 2)
        #expect(instances.filter(SubsetSelector(tags: ["zone": "a"]).matches).count == 2)
        #expect(instances.filter(SubsetSelector(version: "2.0.0", tags: ["zone": "b"]).matches).count == 1)
        #expect(instances.filter(SubsetSelector().matches).count == 3)
        #expect(SubsetSelector(version: "2.0.0", tags: ["zone": "b"]).description == "version=2.0.0,zone=b")
    }

    @Test func leasesStayInTheirSubsetAndCarryTheRoutePolicy() throws {
        var roundRobin = TrafficPolicy()
        roundRobin.loadBalancer = .roundRobin
        let endpoints = EndpointTable(policies: TrafficPolicies(defaults: roundRobin))
        var policy = roundRobin
        policy.requestTimeout = 1
        let subset = SubsetSelector(version: "2.0.0")
        var seen: Set<String> = []
        for _ in 0..<50 {
            let lease = try endpoints.lease("svc", from: instances, subset: subset, policy: policy, now: 1).get()
            seen.insert(lease.instance.address)
            #expect(lease.subset == subset && lease.policy.requestTimeout == 1)
            lease.answered(status: 200, now: 2)
        }
        #expect(seen == ["198.18.0.3", "198.18.0.4"])
        let none = endpoints.lease("svc", from: instances, subset: SubsetSelector(version: "3"), now: 1)
        guard case .failure(let refusal) = none else {
            Issue.record("an empty subset is no instance, not another version")
            return
        }
        #expect(refusal == .noInstance)
    }

    @Test func reloadedPoliciesApplyToKnownServices() throws {
        let endpoints = EndpointTable(policies: TrafficPolicies())
        _ = try endpoints.lease("svc", from: instances, now: 1).get()
        var policy = TrafficPolicy()
        policy.maxConnections = 7
        policy.requestTimeout = 3
        endpoints.update(policies: TrafficPolicies(services: ["svc": policy]))
        let lease = try endpoints.lease("svc", from: instances, now: 1).get()
        #expect(lease.policy.requestTimeout == 3 && lease.connections.maxOpen == 7)
    }
}
