import Discovery
import MesherBase

/// One event loop's view of every service's instances: what is outstanding, how fast each answers, which
/// are ejected. Only its own loop uses it, so picking takes no lock; each loop learns on its own.
public final class EndpointTable {
    final class Service {
        /// The service's policy, looked up once (again after a reload): every lease carries it.
        var policy: TrafficPolicy
        var stats: [EndpointKey: EndpointStats] = [:]
        var budget: RetryBudget
        let connections: ServiceConnections

        init(policy: TrafficPolicy, loops: Int) {
            self.policy = policy
            budget = RetryBudget(policy.retryBudget)
            connections = ServiceConnections(
                maxOpen: share(policy.maxConnections, loops), maxPending: share(policy.maxPendingRequests, loops))
        }

        var nextTurn = 0
        /// Requests leased on this loop and not settled, all instances together.
        var outstanding = 0
        /// How many instances the registry had at the last pick: the base of `maxEjectionPercent`.
        var instanceCount = 0
        /// Until when some instance may be ejected (the latest ejection's end): before it, picks check each.
        var ejectedUntil: UInt64 = 0
    }

    /// What a settled request did to its instance, for the log.
    public enum Event: Equatable {
        case ejected(EndpointKey, forNanoseconds: UInt64, count: Int)
    }

    /// Why no instance was leased.
    public enum Refusal: Error, Equatable {
        /// None is up.
        case noInstance
        /// This loop's share of `maxRequests` is in flight.
        case overflow
    }

    public private(set) var policies: TrafficPolicies
    /// How many loops share `maxRequests`: each allows its part.
    private let loops: Int
    /// The ejections of every loop, for the service-wide `maxEjectionPercent`.
    private let ejections: EjectionLedger
    var services: [String: Service] = [:]
    private let randomBelow: (Int) -> Int
    /// Called the first time this loop routes to a service (its metrics start at zero then).
    public var onNewService: ((String) -> Void)?

    /// `randomBelow(n)`: a number in 0..<n (tests pass a seeded generator); by default the loop's own
    /// generator, which makes no system call per pick.
    public init(
        policies: TrafficPolicies, loops: Int = 1, ejections: EjectionLedger = EjectionLedger(),
        randomBelow: ((Int) -> Int)? = nil
    ) {
        self.policies = policies
        self.loops = max(loops, 1)
        self.ejections = ejections
        if let randomBelow {
            self.randomBelow = randomBelow
        } else {
            let random = RandomBox()
            self.randomBelow = { Int.random(in: 0..<$0, using: &random.generator) }
        }
    }

    /// An instance of `service` for one request or connection, leased until it settles: up instances that are
    /// not ejected (all up ones if every one is), preferring those not yet `tried` by this request.
    public func pick(
        _ service: String, from instances: [ServiceInstance], excluding tried: [EndpointKey] = [], now: UInt64
    ) -> EndpointLease? {
        try? lease(service, from: instances, excluding: tried, now: now).get()
    }

    /// `pick`, saying why when there is none. `subset`: only instances of it (a route rule's); `policy`: the
    /// route's, over the service's, for this request (its retries and timeouts).
    public func lease(
        _ service: String, from instances: [ServiceInstance], subset: SubsetSelector? = nil,
        policy routePolicy: TrafficPolicy? = nil, excluding tried: [EndpointKey] = [], now: UInt64
    ) -> Result<EndpointLease, Refusal> {
        let entry = entry(service)
        let policy = routePolicy ?? entry.policy
        guard entry.outstanding < share(entry.policy.maxRequests, loops) else { return .failure(.overflow) }
        entry.instanceCount = instances.count
        if entry.stats.count > 2 * instances.count + 8 { prune(entry, keeping: instances) }
        // The usual case, every instance up and none ejected, copies no array.
        var eligible = instances
        if let subset { eligible = instances.filter(subset.matches) }
        if now < entry.ejectedUntil || eligible.contains(where: { !$0.isUp }) {
            let up = eligible.filter(\.isUp)
            eligible = up.filter { entry.stats[EndpointKey($0)]?.isEjected(now: now) != true }
            if eligible.isEmpty { eligible = up }
        }
        if !tried.isEmpty {
            let untried = eligible.filter { !tried.contains(EndpointKey($0)) }
            if !untried.isEmpty { eligible = untried }
        }
        guard !eligible.isEmpty else { return .failure(.noInstance) }
        let chosen = choose(from: eligible, in: entry, kind: entry.policy.loadBalancer)
        let key = EndpointKey(chosen)
        entry.stats[key, default: EndpointStats()].outstanding += 1
        entry.stats[key]?.lastPicked = now
        entry.outstanding += 1
        if tried.isEmpty { entry.budget.deposit(now: now) }
        return .success(
            EndpointLease(
                table: self, service: service, policy: policy, subset: subset, connections: entry.connections,
                instance: chosen, key: key, started: now))
    }

    private func choose(from eligible: [ServiceInstance], in entry: Service, kind: LoadBalancerKind) -> ServiceInstance
    {
        guard eligible.count > 1 else { return eligible[0] }
        switch kind {
        case .roundRobin:
            entry.nextTurn &+= 1
            return eligible[Int(UInt(bitPattern: entry.nextTurn) % UInt(eligible.count))]
        case .random:
            return eligible[randomBelow(eligible.count)]
        case .ewma, .leastRequest:
            // Power of two choices: two distinct instances at random, the cheaper wins.
            let first = randomBelow(eligible.count)
            var second = randomBelow(eligible.count - 1)
            if second >= first { second += 1 }
            let a = entry.stats[EndpointKey(eligible[first])] ?? EndpointStats()
            let b = entry.stats[EndpointKey(eligible[second])] ?? EndpointStats()
            let pickFirst = kind == .ewma ? a.isPreferred(over: b) : a.outstanding <= b.outstanding
            if kind == .ewma && a.outstanding == b.outstanding {
                entry.stats[EndpointKey(eligible[pickFirst ? second : first])]?.fade()
            }
            return eligible[pickFirst ? first : second]
        }
    }

    /// Whether `service` may have one more retry now (its budget pays for it).
    public func retryAllowed(_ service: String, now: UInt64) -> Bool {
        entry(service).budget.withdraw(now: now)
    }

    /// The lease settled: `latency` when an answer came (nanoseconds to its head), `failed` for a 5xx or a
    /// failed connect. Returns an ejection when this failure was one too many.
    func settle(_ lease: EndpointLease, latency: UInt64?, failed: Bool?, now: UInt64) -> Event? {
        guard let entry = services[lease.service] else { return nil }
        entry.outstanding = max(0, entry.outstanding - 1)
        guard var stats = entry.stats[lease.key] else { return nil }
        defer { entry.stats[lease.key] = stats }
        // An ejection that ran out ends here (picks no longer look once every ejection has), with a clean slate.
        _ = stats.isEjected(now: now)
        stats.outstanding = max(0, stats.outstanding - 1)
        if let latency { stats.observe(latency: Double(latency), now: now) }
        guard let failed else { return nil }
        guard failed else {
            stats.consecutiveFailures = 0
            return nil
        }
        stats.consecutiveFailures += 1
        let detection = entry.policy.outlierDetection
        guard stats.consecutiveFailures >= detection.consecutiveFailures, !stats.isEjected(now: now) else { return nil }
        let time = detection.ejectionTime(count: stats.ejections + 1)
        let total = entry.instanceCount
        guard
            ejections.admit(
                lease.service, lease.key, until: now + time, now: now,
                allows: {
                    detection.allowsEjection(ejected: $0, total: total)
                })
        else { return nil }
        stats.ejections += 1
        stats.ejectedUntil = now + time
        entry.ejectedUntil = max(entry.ejectedUntil, now + time)
        return .ejected(lease.key, forNanoseconds: time, count: stats.ejections)
    }

    /// A reload: each service follows its new policy from its next request on; what the loop learnt of
    /// its instances (latency, failures, ejections) stays.
    public func update(policies: TrafficPolicies) {
        guard policies != self.policies else { return }
        self.policies = policies
        for (name, entry) in services {
            let policy = policies.policy(for: name)
            guard policy != entry.policy else { continue }
            entry.policy = policy
            entry.budget = RetryBudget(policy.retryBudget)
            entry.connections.resize(
                maxOpen: share(policy.maxConnections, loops), maxPending: share(policy.maxPendingRequests, loops))
        }
    }

    private func entry(_ service: String) -> Service {
        if let entry = services[service] { return entry }
        let entry = Service(policy: policies.policy(for: service), loops: loops)
        services[service] = entry
        onNewService?(service)
        return entry
    }

    /// Forgets instances the registry no longer has (their stats would otherwise grow with every change).
    private func prune(_ entry: Service, keeping instances: [ServiceInstance]) {
        let current = Set(instances.map(EndpointKey.init))
        entry.stats = entry.stats.filter { current.contains($0.key) || $0.value.outstanding > 0 }
    }

    /// For tests and the admin API: the stats of one instance.
    func stats(_ service: String, _ key: EndpointKey) -> EndpointStats? {
        services[service]?.stats[key]
    }
}

/// A generator a closure can advance.
private final class RandomBox {
    var generator = FastRandom()
}

/// A loop's part of a service-wide limit: `limit` over `loops`, rounded up.
private func share(_ limit: Int, _ loops: Int) -> Int {
    (limit + loops - 1) / loops
}

/// One request's (or connection's) hold on the instance it was sent to. Settle it once with what happened;
/// one never settled (the client went away) only gives its outstanding count back.
public final class EndpointLease {
    private let table: EndpointTable
    public let service: String
    /// The service's traffic policy (with its route's retries and timeouts).
    public let policy: TrafficPolicy
    /// The subset of instances a route rule allows, for retries to pick from.
    public let subset: SubsetSelector?
    /// This loop's connections to the service (its circuit breaker's `maxConnections`).
    public let connections: ServiceConnections
    public let instance: ServiceInstance
    public let key: EndpointKey
    private(set) var started: UInt64
    private var settled = false

    init(
        table: EndpointTable, service: String, policy: TrafficPolicy, subset: SubsetSelector?,
        connections: ServiceConnections, instance: ServiceInstance, key: EndpointKey, started: UInt64
    ) {
        self.table = table
        self.service = service
        self.policy = policy
        self.subset = subset
        self.connections = connections
        self.instance = instance
        self.key = key
        self.started = started
    }

    /// The request went out on a ready connection: its latency counts from here, as a new connection's
    /// handshake is no measure of how fast the instance answers (and would stay as its peak for seconds).
    public func sent(now: UInt64) {
        if !settled { started = now }
    }

    /// An answer came: its head's status says whether the instance failed (5xx).
    @discardableResult
    public func answered(status: Int, now: UInt64) -> EndpointTable.Event? {
        settle(latency: now &- started, failed: status >= 500, now: now)
    }

    /// The instance could not be reached, or broke the connection before answering.
    @discardableResult
    public func failed(now: UInt64) -> EndpointTable.Event? {
        settle(latency: nil, failed: true, now: now)
    }

    /// A byte relay connected: the connect time is its latency, and the connection is no failure.
    @discardableResult
    public func connected(now: UInt64) -> EndpointTable.Event? {
        settle(latency: now &- started, failed: false, now: now)
    }

    private func settle(latency: UInt64?, failed: Bool?, now: UInt64) -> EndpointTable.Event? {
        guard !settled else { return nil }
        settled = true
        return table.settle(self, latency: latency, failed: failed, now: now)
    }

    deinit {
        if !settled { _ = table.settle(self, latency: nil, failed: nil, now: 0) }
    }
}
