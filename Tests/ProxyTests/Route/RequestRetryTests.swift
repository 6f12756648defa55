import Discovery
import Logging
import MesherBase
import NIOCore
import Testing

@testable import Proxy
@testable import Routing

private struct ThreeInstances: ServiceDiscovery {
    var snapshot = RegistrySnapshot(
        (2...4).map { ServiceInstance(service: "svc", address: "198.18.0.\($0)", port: 8080) })
    var sync = RegistrySync(synced: true, lastChange: 1)
}

/// The retry decisions, without a channel: which condition the policy retries, on which instance, how often.
struct RequestRetryTests {
    func setUp(_ configure: (inout TrafficPolicy) -> Void) -> (RouteTable, EndpointTable, RequestRetry) {
        var policy = TrafficPolicy()
        policy.loadBalancer = .roundRobin
        configure(&policy)
        let routes = RouteTable(router: ServiceRouter(discovery: ThreeInstances(), searchSuffixes: []))
        let endpoints = EndpointTable(policies: TrafficPolicies(defaults: policy))
        return (routes, endpoints, RequestRetry(routes: routes, endpoints: endpoints, logger: Logger(label: "test")))
    }

    /// `RequestRetry.next`, outside the expectation macros (which cannot call a mutating method).
    func next(_ retry: inout RequestRetry, after route: Routed, _ condition: RetryCondition = .connectFailure)
        -> Routed?
    {
        retry.next(after: route, condition)
    }

    @Test func eachRetryGoesToAnInstanceNotTriedYetUntilTheAttemptsAreSpent() throws {
        let (routes, endpoints, start) = setUp { $0.connectRetries = 2 }
        var retry = start
        let first = routes.route(routes.target(host: "svc", destination: nil), endpoints: endpoints)
        let second = try #require(next(&retry, after: first))
        let third = try #require(next(&retry, after: second))
        let addresses = Set([first, second, third].compactMap { $0.lease?.key.address })
        #expect(addresses.count == 3, "three distinct instances")
        #expect(retry.attempts == 3)
        #expect(next(&retry, after: third) == nil, "2 retries, no more")
    }

    @Test func onlyWhatThePolicyNamesIsRetried() throws {
        let (routes, endpoints, start) = setUp { $0.retryOn = [.connectFailure, .gatewayError] }
        var retry = start
        let route = routes.route(routes.target(host: "svc", destination: nil), endpoints: endpoints)
        #expect(retry.retries(status: 503, from: route) == .gatewayError)
        #expect(retry.retries(status: 500, from: route) == nil, "500 is not a gateway error")
        #expect(next(&retry, after: route, .reset) == nil, "reset is not in `on`")
        // The policy is the one the route's lease carries.
        let (otherRoutes, otherEndpoints, serverErrors) = setUp { $0.retryOn = [.serverError] }
        let other = otherRoutes.route(otherRoutes.target(host: "svc", destination: nil), endpoints: otherEndpoints)
        #expect(serverErrors.retries(status: 500, from: other) == .serverError)
    }

    @Test func aRouteThatIsNoServicesIsNeverRetried() throws {
        let (_, _, start) = setUp { _ in }
        var retry = start
        let original = Routed.original(try SocketAddress(ipAddress: "198.18.0.9", port: 80))
        #expect(next(&retry, after: original) == nil)
        #expect(retry.retries(status: 503, from: original) == nil)
    }

    @Test func backoffStaysUnderItsCap() throws {
        let (routes, endpoints, start) = setUp { $0.retryBackoff.base = 10_000_000 }
        var retry = start
        let first = routes.route(routes.target(host: "svc", destination: nil), endpoints: endpoints)
        let second = try #require(next(&retry, after: first))
        for _ in 0..<50 { #expect(retry.backoff(for: second) <= .milliseconds(10)) }
    }
}
