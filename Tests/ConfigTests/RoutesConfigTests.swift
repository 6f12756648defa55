import MesherBase
import Testing

@testable import Config

struct RoutesConfigTests {
    static let example = """
        routes:
          AccountService:
            - match: {path: {prefix: /v2/}, headers: {x-canary: {exact: "1"}}, method: get}
              to: [{version: 2.0.0}]
            - match: {path: {regex: "^/admin"}, query: {debug: {present: true}}}
              directResponse: {status: 403, body: forbidden}
            - to: [{version: 1.0.0, weight: 90}, {version: 2.0.0, tags: {zone: a}, weight: 10}]
              requestHeaders: {set: {x-route: default}, add: {x-extra: "a b"}, remove: [x-debug]}
              rewrite: {prefix: /}
              timeout: 2s
              retries: {attempts: 1, on: [gateway-error], perTryTimeout: 500ms}
              fault: {delay: {fixed: 100ms, percent: 10}, abort: {status: 503, percent: 1.5}}
              rateLimit: {requestsPerSecond: 100, burst: 50}
        inbound:
          rateLimit: {requestsPerSecond: 500}
        """

    @Test func everyPartOfARule() throws {
        let config = try MesherConfig.parse(Self.example)
        let rules = try #require(config.routes.rules["accountservice"])
        #expect(rules.count == 3)
        #expect(rules[0].match.path == .prefix("/v2/") && rules[0].match.method == "GET")
        #expect(rules[0].match.headers.first?.name == "x-canary" && rules[0].match.headers.first?.rule == .exact("1"))
        #expect(rules[0].action == .forward([WeightedSubset(subset: SubsetSelector(version: "2.0.0"), weight: 1)]))
        #expect(rules[1].action == .directResponse(status: 403, body: "forbidden"))
        #expect(rules[1].match.query.first?.rule == .present)
        let last = rules[2]
        #expect(
            last.action
                == .forward([
                    WeightedSubset(subset: SubsetSelector(version: "1.0.0"), weight: 90),
                    WeightedSubset(subset: SubsetSelector(version: "2.0.0", tags: ["zone": "a"]), weight: 10),
                ]))
        #expect(last.requestHeaders.replace.first! == ("x-route", "default"))
        #expect(last.requestHeaders.add.first! == ("x-extra", "a b") && last.requestHeaders.remove == ["x-debug"])
        #expect(last.rewritePrefix == "/" && last.timeout == 2_000_000_000)
        #expect(last.retries == RouteRetries(attempts: 1, on: [.gatewayError], perTryTimeout: 500_000_000))
        #expect(last.fault?.delay?.nanoseconds == 100_000_000 && last.fault?.abort?.percent == 1.5)
        #expect(last.rateLimit == RateLimit(requestsPerSecond: 100, burst: 50))
        #expect(config.inbound.rateLimit == RateLimit(requestsPerSecond: 500, burst: 500), "a second's worth")
        #expect(MesherConfig().routes.rules.isEmpty && MesherConfig().inbound.rateLimit == nil)
    }

    @Test func routeOverridesOnlyTimeoutsAndRetries() throws {
        let rule = try #require(MesherConfig.parse(Self.example).routes.rules["accountservice"]?[2])
        var service = TrafficPolicy()
        service.loadBalancer = .roundRobin
        let policy = service.overridden(by: rule)
        #expect(policy.requestTimeout == 2_000_000_000 && policy.connectRetries == 1)
        #expect(policy.retryOn == [.gatewayError] && policy.perTryTimeout == 500_000_000)
        #expect(policy.loadBalancer == .roundRobin && policy.maxRequests == service.maxRequests)
    }

    @Test(arguments: [
        ("routes:\n  A:\n    - match: {path: {prefix: v2}}\n", 3, "routes.A.[0].match.path.prefix", "starting with /"),
        (
            "routes:\n  A:\n    - match: {path: {regex: \"(a\"}}\n", 3, "routes.A.[0].match.path.regex",
            "invalid regular"
        ),
        ("routes:\n  A:\n    - match: {path: {regex: \"(a)\\\\1\"}}\n", 3, "routes.A.[0].match.path.regex", "back ref"),
        ("routes:\n  A:\n    - match: {pth: {prefix: /}}\n", 3, "routes.A.[0].match.pth", "unknown field"),
        (
            "routes:\n  A:\n    - match: {path: {prefix: /, exact: /}}\n", 3, "routes.A.[0].match.path.exact",
            "one of exact, prefix or regex"
        ),
        ("routes:\n  A:\n    - to: [{version: 1, weight: 5}, {version: 2}]\n", 3, "routes.A.[0].to", "every subset"),
        ("routes:\n  A:\n    - to: [{version: 1, weight: 0}]\n", 3, "routes.A.[0].to", "not all be 0"),
        (
            "routes:\n  A:\n    - to: [{version: 1}]\n      directResponse: {status: 403}\n", 4,
            "routes.A.[0].directResponse", "either"
        ),
        (
            "routes:\n  A:\n    - directResponse: {status: 99}\n", 3, "routes.A.[0].directResponse.status",
            "at least 200"
        ),
        (
            "routes:\n  A:\n    - requestHeaders: {set: {content-length: \"5\"}}\n", 3,
            "routes.A.[0].requestHeaders.set.content-length", "cannot be edited"
        ),
        (
            "routes:\n  A:\n    - requestHeaders: {add: {x-a: \"b\\r\\nx: y\"}}\n", 3,
            "routes.A.[0].requestHeaders.add.x-a", "not a valid field value"
        ),
        (
            "routes:\n  A:\n    - requestHeaders: {remove: [\"bad name\"]}\n", 3, "routes.A.[0].requestHeaders.remove",
            "not a valid field name"
        ),
        (
            "routes:\n  A:\n    - fault: {abort: {status: 503, percent: 101}}\n", 3,
            "routes.A.[0].fault.abort.percent", "at most 100"
        ),
        (
            "routes:\n  A:\n    - rateLimit: {requestsPerSecond: 0}\n", 3, "routes.A.[0].rateLimit.requestsPerSecond",
            "at least"
        ),
        ("routes:\n  A:\n    - timeout: 2 weeks\n", 3, "routes.A.[0].timeout", "a duration"),
        ("routes:\n  A: []\n  a: []\n", 3, "routes.a", "named twice"),
        (
            "inbound:\n  rateLimit: {burst: 5}\n", 2, "inbound.rateLimit.requestsPerSecond",
            "required field missing"
        ),
    ])
    func badRouteNamesLineAndField(_ yaml: String, _ line: Int, _ field: String, _ message: String) {
        #expect {
            try MesherConfig.parse(yaml, source: "mesher.yaml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.line == line && error.field == field && error.message.contains(message)
        }
    }
}
