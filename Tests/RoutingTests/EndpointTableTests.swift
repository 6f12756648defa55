import Discovery
import MesherBase
import Testing

@testable import Routing

/// A seeded generator (SplitMix64): the balancers' randomness, the same in every run.
final class SeededRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    func below(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}

private let second: UInt64 = 1_000_000_000
private let millisecond: UInt64 = 1_000_000

private func instances(_ count: Int, down: Set<Int> = []) -> [ServiceInstance] {
    (0..<count).map {
        ServiceInstance(service: "svc", address: "198.18.0.\($0 + 2)", port: 8080, isUp: !down.contains($0))
    }
}

private func table(_ configure: (inout TrafficPolicy) -> Void = { _ in }, seed: UInt64 = 1) -> EndpointTable {
    var policy = TrafficPolicy()
    configure(&policy)
    let random = SeededRandom(seed: seed)
    return EndpointTable(policies: TrafficPolicies(defaults: policy), randomBelow: random.below)
}

struct BalancerTests {
    @Test func roundRobinTakesTurnsAndSkipsDownInstances() {
        let endpoints = table { $0.loadBalancer = .roundRobin }
        let all = instances(3, down: [1])
        let picks = (0..<4).map { _ in endpoints.pick("svc", from: all, now: 0)!.instance.address }
        #expect(picks == ["198.18.0.4", "198.18.0.2", "198.18.0.4", "198.18.0.2"])
        #expect(endpoints.pick("svc", from: instances(2, down: [0, 1]), now: 0) == nil)
        #expect(endpoints.pick("svc", from: [], now: 0) == nil)
    }

    /// Every kind spreads a steady load over every instance (property: for many seeds and sizes, with eight
    /// requests in flight and every instance answering alike, none gets less than half or more than twice
    /// its fair share).
    @Test(arguments: LoadBalancerKind.allCases)
    func everyKindSpreadsEvenInstancesFairly(_ kind: LoadBalancerKind) {
        for seed in UInt64(1)...6 {
            for size in 2...6 {
                let endpoints = table({ $0.loadBalancer = kind }, seed: seed)
                let all = instances(size)
                var counts: [String: Int] = [:]
                var inFlight: [EndpointLease] = []
                for turn in 0..<(400 * size) {
                    let now = UInt64(turn) * millisecond
                    let lease = endpoints.pick("svc", from: all, now: now)!
                    counts[lease.instance.address, default: 0] += 1
                    inFlight.append(lease)
                    if inFlight.count == 8 { inFlight.removeFirst().answered(status: 200, now: now) }
                }
                #expect(counts.count == size, "\(kind) seed \(seed): \(counts)")
                #expect(counts.values.allSatisfy { (200...800).contains($0) }, "\(kind) seed \(seed): \(counts)")
            }
        }
    }

    @Test func ewmaSendsLittleToASlowInstance() {
        let endpoints = table { $0.loadBalancer = .ewma }
        let all = instances(3)
        var counts: [String: Int] = [:]
        var now: UInt64 = 0
        for _ in 0..<3000 {
            let lease = endpoints.pick("svc", from: all, now: now)!
            counts[lease.instance.address, default: 0] += 1
            // 198.18.0.4 answers in 200 ms, the others in 1 ms.
            let latency = lease.instance.address == "198.18.0.4" ? 200 * millisecond : millisecond
            lease.answered(status: 200, now: now + latency)
            now += millisecond
        }
        #expect(counts["198.18.0.4", default: 0] < 150, "\(counts)")
    }

    /// 60 requests one at a time over three instances with the defaults (ewma), each answered after `latency`
    /// (given the instance's address and how many requests it has had): how many each got, for 20 seeds.
    private func sequentialPicks(latency: (String, Int) -> UInt64) -> [(seed: UInt64, counts: [String: Int])] {
        (UInt64(1)...20).map { seed in
            let endpoints = table({ $0.loadBalancer = .ewma }, seed: seed)
            let all = instances(3)
            var counts: [String: Int] = [:]
            var now: UInt64 = 0
            for _ in 0..<60 {
                let lease = endpoints.pick("svc", from: all, now: now)!
                let address = lease.instance.address
                counts[address, default: 0] += 1
                now += latency(address, counts[address]!)
                lease.answered(status: 200, now: now)
            }
            return (seed, counts)
        }
    }

    /// Light load (one request at a time) on three instances answering alike: the ones not tried yet are assumed
    /// as fast as the measured ones, so each gets its share from the start (assumed at 30 ms, a new instance lost
    /// every comparison with a measured 2 ms one and got none).
    @Test func ewmaTriesInstancesItHasNotMeasured() {
        for (seed, counts) in sequentialPicks(latency: { _, _ in 2 * millisecond }) {
            #expect(counts.count == 3 && counts.values.allSatisfy { $0 >= 10 }, "seed \(seed): \(counts)")
        }
    }

    /// One slow answer (a 40 ms hiccup among 1 ms ones, the instance's second) leaves a peak that lingers for
    /// seconds; each pick the instance loses on latency alone fades it, so it is back in turn within a few picks:
    /// 60 picks in a row still give each of three at least 10.
    @Test func ewmaGetsOverAPeak() {
        let picks = sequentialPicks { address, count in
            address == "198.18.0.2" && count == 2 ? 40 * millisecond : millisecond
        }
        for (seed, counts) in picks {
            #expect(counts.count == 3 && counts.values.allSatisfy { $0 >= 10 }, "seed \(seed): \(counts)")
        }
    }

    @Test func leastRequestAvoidsTheBusyInstance() {
        let endpoints = table { $0.loadBalancer = .leastRequest }
        let all = instances(2)
        // 198.18.0.2 holds ten requests that never end; every new one then goes to 198.18.0.3.
        let held = (0..<10).map { _ in endpoints.pick("svc", from: all, excluding: [EndpointKey(all[1])], now: 0)! }
        #expect(held.allSatisfy { $0.instance.address == "198.18.0.2" })
        for _ in 0..<50 {
            let lease = endpoints.pick("svc", from: all, now: 0)!
            #expect(lease.instance.address == "198.18.0.3")
            lease.answered(status: 200, now: 0)
        }
    }

    @Test func aLeaseNeverSettledGivesItsRequestBack() {
        let endpoints = table()
        let all = instances(1)
        let key = EndpointKey(all[0])
        do {
            let lease = endpoints.pick("svc", from: all, now: 0)
            #expect(endpoints.stats("svc", key)?.outstanding == 1)
            _ = lease
        }
        #expect(endpoints.stats("svc", key)?.outstanding == 0)
    }

    @Test func retriesPreferInstancesNotTried() {
        let endpoints = table { $0.loadBalancer = .random }
        let all = instances(3)
        for _ in 0..<50 {
            let tried = [EndpointKey(all[0]), EndpointKey(all[2])]
            #expect(endpoints.pick("svc", from: all, excluding: tried, now: 0)?.instance.address == "198.18.0.3")
        }
        // With every instance tried, one of them again rather than none.
        #expect(endpoints.pick("svc", from: instances(1), excluding: [EndpointKey(all[0])], now: 0) != nil)
    }
}

struct CircuitBreakerTests {
    @Test func maxRequestsInFlightThenOverflowAtOnce() {
        let endpoints = table { $0.maxRequests = 2 }
        let all = instances(3)
        let first = endpoints.pick("svc", from: all, now: 0)
        let second = endpoints.pick("svc", from: all, now: 0)
        #expect(first != nil && second != nil)
        #expect(refusal(endpoints.lease("svc", from: all, now: 0)) == .overflow)
        first?.answered(status: 200, now: 1)
        #expect(endpoints.pick("svc", from: all, now: 1) != nil, "room again once one settles")
        #expect(endpoints.pick("other", from: all, now: 0) != nil, "per service")
        #expect(refusal(endpoints.lease("svc", from: [], now: 0)) == .noInstance)
        _ = second
    }

    @Test func eachLoopTakesItsShare() {
        var policy = TrafficPolicy()
        policy.maxRequests = 5
        let endpoints = EndpointTable(policies: TrafficPolicies(defaults: policy), loops: 2)
        let leases = (0..<3).compactMap { _ in endpoints.pick("svc", from: instances(2), now: 0) }
        #expect(leases.count == 3, "a share of 5 over 2 loops is 3")
        #expect(refusal(endpoints.lease("svc", from: instances(2), now: 0)) == .overflow)
        #expect(refusal(EndpointTable(policies: TrafficPolicies()).lease("svc", from: [], now: 0)) == .noInstance)
    }
}

/// Why a lease was refused; `nil` when one was given (and given back at once).
private func refusal(_ result: Result<EndpointLease, EndpointTable.Refusal>) -> EndpointTable.Refusal? {
    if case .failure(let refusal) = result { refusal } else { nil }
}

struct OutlierEjectionTests {
    @Test func consecutiveFailuresEjectForTheBaseTimeThenLonger() {
        let endpoints = table { $0.loadBalancer = .roundRobin }
        let all = instances(3)
        let bad = EndpointKey(all[1])
        var now: UInt64 = 0
        func sendUntilEjected() -> Int {
            var failures = 0
            for _ in 0..<100 {
                let lease = endpoints.pick("svc", from: all, now: now)!
                now += millisecond
                if lease.key == bad {
                    failures += 1
                    if lease.answered(status: 500, now: now) != nil { return failures }
                } else {
                    lease.answered(status: 200, now: now)
                }
            }
            return failures
        }
        #expect(sendUntilEjected() == 5)
        // Ejected: 30 s of picks without it.
        for step in 0..<100 {
            let lease = endpoints.pick("svc", from: all, now: now + UInt64(step) * 290 * millisecond)!
            #expect(lease.key != bad)
            lease.answered(status: 200, now: now)
        }
        now += 30 * second
        #expect(endpoints.stats("svc", bad)?.ejections == 1)
        // Back after its time, with a clean slate; the second ejection lasts twice as long.
        #expect(sendUntilEjected() == 5)
        #expect(endpoints.stats("svc", bad)?.ejectedUntil == now + 60 * second)
    }

    @Test func aSuccessResetsTheCount() {
        let endpoints = table()
        let all = instances(2)
        let lease = { endpoints.pick("svc", from: all, excluding: [EndpointKey(all[1])], now: 0)! }
        for _ in 0..<4 { #expect(lease().answered(status: 503, now: 0) == nil) }
        lease().answered(status: 200, now: 0)
        for _ in 0..<4 { #expect(lease().answered(status: 502, now: 0) == nil) }
        #expect(lease().failed(now: 0) != nil, "a failed connect counts as much as a 5xx")
    }

    @Test func neverMoreThanMaxEjectionPercent() {
        let endpoints = table { $0.outlierDetection.maxEjectionPercent = 50 }
        let all = instances(3)
        var ejected = Set<EndpointKey>()
        for _ in 0..<200 {
            let lease = endpoints.pick("svc", from: all, now: 0)!
            if lease.answered(status: 500, now: 0) != nil { ejected.insert(lease.key) }
        }
        #expect(ejected.count == 1, "one of three is 33 %; two would be 67 %")
        // A single instance is never ejected: with every instance failing, all are used rather than none.
        let lone = table()
        for _ in 0..<20 { #expect(lone.pick("solo", from: instances(1), now: 0)!.answered(status: 500, now: 0) == nil) }
    }

    /// Two event loops sharing one ledger: the cap is the service's. Each loop fails both instances of two, yet
    /// only one instance is ejected anywhere (each loop on its own would eject one, a different one each, and both
    /// would be out); the instance one loop ejected may be ejected on the other too.
    @Test func maxEjectionPercentHoldsAcrossLoops() {
        let ledger = EjectionLedger()
        var policy = TrafficPolicy()
        policy.loadBalancer = .roundRobin
        let loops = (0..<2).map { _ in
            EndpointTable(policies: TrafficPolicies(defaults: policy), loops: 2, ejections: ledger)
        }
        let all = instances(2)
        var ejected: [Set<EndpointKey>] = [[], []]
        // The first loop fails only the first instance, the second loop only the second.
        for (index, endpoints) in loops.enumerated() {
            for _ in 0..<20 {
                let lease = endpoints.pick("svc", from: all, excluding: [EndpointKey(all[1 - index])], now: 0)!
                if lease.failed(now: 0) != nil { ejected[index].insert(lease.key) }
            }
        }
        #expect(ejected[0] == [EndpointKey(all[0])] && ejected[1].isEmpty, "\(ejected)")
        #expect(ledger.count("svc", now: 0) == 1)
        for _ in 0..<5 { _ = loops[1].pick("svc", from: all, excluding: [EndpointKey(all[1])], now: 1)!.failed(now: 1) }
        #expect(ledger.count("svc", now: 1) == 1, "the same instance out on both loops is one out")
        #expect(ledger.count("svc", now: 60 * second) == 0, "ejections end")
    }

    @Test func zeroConsecutiveFailuresTurnsItOff() {
        let endpoints = table { $0.outlierDetection.consecutiveFailures = 0 }
        for _ in 0..<50 { #expect(endpoints.pick("svc", from: instances(4), now: 0)!.failed(now: 0) == nil) }
    }

    @Test func ejectionTimeGrowsAndIsCapped() {
        var detection = OutlierDetection()
        #expect(detection.ejectionTime(count: 1) == 30 * second)
        #expect(detection.ejectionTime(count: 3) == 90 * second)
        #expect(detection.ejectionTime(count: 1000) == 300 * second)
        detection.baseEjectionTime = 600 * second
        #expect(detection.ejectionTime(count: 2) == 600 * second, "a base above the cap is the cap")
    }

    @Test func perServicePoliciesApply() {
        var strict = TrafficPolicy()
        strict.outlierDetection.consecutiveFailures = 1
        let endpoints = EndpointTable(policies: TrafficPolicies(services: ["strict": strict]))
        #expect(endpoints.pick("strict", from: instances(2), now: 0)!.failed(now: 0) != nil)
        #expect(endpoints.pick("other", from: instances(2), now: 0)!.failed(now: 0) == nil)
    }
}

struct RetryBudgetTests {
    @Test func minPerSecondComeAnywayAndAreNotSaved() {
        var budget = RetryBudget(RetryBudgetSettings())
        let granted = (0..<50).filter { _ in budget.withdraw(now: 1) }.count
        #expect(granted == 10, "the reserve of 10, then nothing")
        let afterHalf = budget.withdraw(now: 1 + 50_000_000)
        #expect(!afterHalf, "half a retry refilled in 50 ms")
        let afterOne = budget.withdraw(now: 1 + 100_000_000)
        #expect(afterOne, "one more after 100 ms")
        // Idle for a minute: still at most 10 saved.
        #expect((0..<50).filter { _ in budget.withdraw(now: 60 * second) }.count == 10)
    }

    /// Under a steady failure, retries stay within ratio × requests plus minPerSecond.
    @Test func retriesStayWithinTheRatio() {
        var budget = RetryBudget(RetryBudgetSettings())
        var retries = 0
        let requests = 10_000
        for request in 0..<requests {
            let now = UInt64(request) * millisecond  // 1000 requests per second for 10 s
            budget.deposit(now: now)
            if budget.withdraw(now: now) { retries += 1 }
        }
        #expect(retries <= requests / 5 + 10 * 10 + 10, "\(retries)")
        #expect(retries >= requests / 5 - 200, "the ratio is usable: \(retries)")
    }

    @Test func aBudgetIsPerService() {
        var policy = TrafficPolicy()
        policy.retryBudget.minPerSecond = 1
        policy.retryBudget.ratio = 0
        let endpoints = EndpointTable(policies: TrafficPolicies(defaults: policy))
        #expect(endpoints.retryAllowed("a", now: 1) && !endpoints.retryAllowed("a", now: 1))
        #expect(endpoints.retryAllowed("b", now: 1))
    }
}

struct RetryBackoffTests {
    @Test func capsGrowExponentiallyUpToMax() {
        let backoff = RetryBackoff()
        #expect((1...5).map { backoff.cap(retry: $0) / millisecond } == [25, 50, 100, 200, 250])
        #expect(backoff.cap(retry: 1000) == 250 * millisecond, "no overflow for a large count")
        #expect(RetryBackoff().cap(retry: 0) == 25 * millisecond)
    }
}
