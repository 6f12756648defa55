import MesherBase
import Testing

@testable import Config

struct TrafficConfigTests {
    @Test func defaultsAreTrafficPolicys() {
        let policy = MesherConfig().traffic.policies.defaults
        #expect(policy == TrafficPolicy())
        #expect(policy.loadBalancer == .ewma && policy.connectRetries == 2)
        #expect(policy.outlierDetection.consecutiveFailures == 5)
        #expect(policy.outlierDetection.baseEjectionTime == 30_000_000_000)
        #expect(policy.outlierDetection.maxEjectionPercent == 50)
        #expect(policy.requestTimeout == 15_000_000_000 && policy.maxRequests == 4096)
    }

    @Test func retryConditionsAndBudget() throws {
        let yaml = """
            traffic:
              defaults:
                retries: {on: [connect-failure, gateway-error, reset], budget: {ratio: 0.1, minPerSecond: 5}}
              services:
                Payments: {retries: {on: []}}
            """
        let policies = try MesherConfig.parse(yaml).traffic.policies
        #expect(policies.defaults.retryOn == [.connectFailure, .gatewayError, .reset])
        #expect(policies.defaults.retryBudget.ratio == 0.1 && policies.defaults.retryBudget.minPerSecond == 5)
        #expect(policies.policy(for: "payments").retryOn.isEmpty, "no retry at all, not even a failed connect")
        #expect(MesherConfig().traffic.policies.defaults.retryOn == [.connectFailure])
    }

    @Test func perTryTimeoutAndBackoff() throws {
        let yaml = "traffic: {defaults: {retries: {perTryTimeout: 200ms, backoff: {base: 10ms, max: 1s}}}}\n"
        let policy = try MesherConfig.parse(yaml).traffic.policies.defaults
        #expect(policy.perTryTimeout == 200_000_000)
        #expect(policy.retryBackoff.base == 10_000_000 && policy.retryBackoff.max == 1_000_000_000)
        #expect(MesherConfig().traffic.policies.defaults.retryBackoff.cap(retry: 1) == 25_000_000)
    }

    @Test func timeoutAndBreaker() throws {
        let yaml = """
            traffic:
              defaults:
                connectTimeout: 250ms
                requestTimeout: 0s
                circuitBreaker: {maxRequests: 10, maxConnections: 3, maxPendingRequests: 0}
            """
        let policy = try MesherConfig.parse(yaml).traffic.policies.defaults
        #expect(policy.requestTimeout == 0 && policy.maxRequests == 10)
        #expect(policy.connectTimeout == 250_000_000)
        #expect(policy.maxConnections == 3 && policy.maxPendingRequests == 0)
        let defaults = TrafficPolicy()
        #expect(defaults.connectTimeout == 1_000_000_000)
        #expect(defaults.maxConnections == 4096 && defaults.maxPendingRequests == 1024)
    }

    @Test func telemetryIsOnUnlessTurnedOff() throws {
        #expect(MesherConfig().telemetry.metrics && MesherConfig().telemetry.tracing)
        let off = try MesherConfig.parse("telemetry: {metrics: false, tracing: false}\n").telemetry
        #expect(!off.metrics && !off.tracing)
        #expect(throws: ConfigError.self) { try MesherConfig.parse("telemetry: {traces: false}\n") }
    }

    @Test func retryBodyLimit() throws {
        let yaml = "traffic: {defaults: {retries: {bodyLimit: 1MiB}}, services: {Upload: {retries: {bodyLimit: 0}}}}\n"
        let policies = try MesherConfig.parse(yaml).traffic.policies
        #expect(policies.defaults.retryBodyLimit == 1 << 20)
        #expect(policies.policy(for: "upload").retryBodyLimit == 0)
        #expect(TrafficPolicy().retryBodyLimit == 64 << 10)
    }

    /// A service's own fields go over the defaults, whether it comes before or after them in the file.
    @Test func servicesOverrideTheDefaultsFieldByField() throws {
        let yaml = """
            traffic:
              services:
                AccountService:
                  loadBalancer: round-robin
                  outlierDetection: {consecutiveFailures: 2}
              defaults:
                retries: {attempts: 0}
                outlierDetection: {baseEjectionTime: 10s, maxEjectionPercent: 100}
            """
        let policies = try MesherConfig.parse(yaml).traffic.policies
        #expect(policies.defaults.connectRetries == 0)
        let account = policies.policy(for: "accountservice")
        #expect(account.loadBalancer == .roundRobin)
        #expect(account.connectRetries == 0)
        #expect(account.outlierDetection.consecutiveFailures == 2)
        #expect(account.outlierDetection.baseEjectionTime == 10_000_000_000)
        #expect(account.outlierDetection.maxEjectionPercent == 100)
        #expect(policies.policy(for: "other") == policies.defaults)
    }

    @Test func everyBalancerIsSpelledAsDocumented() throws {
        for kind in LoadBalancerKind.allCases {
            let yaml = "traffic: {defaults: {loadBalancer: \(kind.rawValue)}}\n"
            #expect(try MesherConfig.parse(yaml).traffic.policies.defaults.loadBalancer == kind)
        }
    }

    @Test(arguments: [
        ("traffic:\n  defaults:\n    loadBalancer: fastest\n", 3, "traffic.defaults.loadBalancer", "not one of ewma"),
        ("traffic:\n  defaults:\n    retries: {attempts: 9}\n", 3, "traffic.defaults.retries.attempts", "at most 5"),
        (
            "traffic:\n  defaults:\n    retries: {on: [5xx, 404]}\n", 3, "traffic.defaults.retries.on",
            "'404' is not one of"
        ),
        (
            "traffic:\n  defaults:\n    retries: {budget: {ratio: 2}}\n", 3, "traffic.defaults.retries.budget.ratio",
            "at most 1.0"
        ),
        (
            "traffic:\n  services:\n    A:\n      outlierDetection: {maxEjectionPercent: 101}\n", 4,
            "traffic.services.A.outlierDetection.maxEjectionPercent", "at most 100"
        ),
        (
            "traffic:\n  defaults:\n    outlierDetection:\n      baseEjectionTime: 10ms\n", 4,
            "traffic.defaults.outlierDetection.baseEjectionTime", "at least 1s"
        ),
        ("traffic:\n  default: {}\n", 2, "traffic.default", "unknown field"),
        ("traffic:\n  defaults:\n    requestTimeout: 2h\n", 3, "traffic.defaults.requestTimeout", "at most 1h"),
        (
            "traffic:\n  defaults:\n    circuitBreaker: {maxRequests: 0}\n", 3,
            "traffic.defaults.circuitBreaker.maxRequests", "at least 1"
        ),
        (
            "traffic:\n  defaults:\n    circuitBreaker: {maxConnections: 0}\n", 3,
            "traffic.defaults.circuitBreaker.maxConnections", "at least 1"
        ),
        ("traffic:\n  defaults:\n    connectTimeout: 1ms\n", 3, "traffic.defaults.connectTimeout", "at least 10ms"),
        (
            "traffic:\n  defaults:\n    retries: {bodyLimit: 1GiB}\n", 3, "traffic.defaults.retries.bodyLimit",
            "at most 16MiB"
        ),
    ])
    func badTrafficNamesLineAndField(_ yaml: String, _ line: Int, _ field: String, _ message: String) {
        #expect {
            try MesherConfig.parse(yaml, source: "mesher.yaml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.line == line && error.field == field && error.message.contains(message)
        }
    }
}
