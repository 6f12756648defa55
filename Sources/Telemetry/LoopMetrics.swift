import Prometheus

/// One event loop's metrics: each handle is made once per label set and kept, so that recording takes no
/// lock (the registry's lock is taken only the first time a label set is seen). Counters are atomic and shared
/// by the loops; each loop has its own histograms (label `loop`), whose lock nobody else takes on the request
/// path. Only its own event loop uses it.
public final class LoopMetrics {
    private let registry: PrometheusCollectorRegistry
    private let loop: String
    /// Per direction, service and status: its counter and its class's histogram (one lookup per request).
    private var requests: [RequestKey: (count: Counter, duration: DurationHistogram)] = [:]
    private var durations: [DurationKey: DurationHistogram] = [:]
    private var counters: [CounterKey: Counter] = [:]
    private var detectionTimers: [String: DurationHistogram] = [:]

    struct RequestKey: Hashable {
        var direction: String
        var service: String
        var status: Int
    }

    struct DurationKey: Hashable {
        var direction: String
        var service: String
        var statusClass: String
    }

    /// Up to three label values (no array per count).
    struct CounterKey: Hashable {
        var name: String
        var first: String
        var second = ""
        var third = ""
    }

    /// `loop`: the event loop's number, the `loop` label of its histograms; none without a registry.
    public init?(registry: PrometheusCollectorRegistry?, loop: Int) {
        guard let registry else { return nil }
        self.registry = registry
        self.loop = "\(loop)"
    }

    /// One HTTP request, answered with `status` (0: none) after `nanoseconds`; `service` is `nil` for a
    /// destination that is no registry service.
    public func request(direction: String, service: String?, status: Int, nanoseconds: Int64) {
        let service = service ?? MetricNames.passthrough
        let key = RequestKey(direction: direction, service: service, status: status)
        let handles = requests[key] ?? makeRequestHandles(key)
        handles.count.increment()
        handles.duration.recordNanoseconds(nanoseconds)
    }

    private func makeRequestHandles(_ key: RequestKey) -> (count: Counter, duration: DurationHistogram) {
        let statusClass = MetricNames.statusClass(key.status)
        let count = registry.makeCounter(
            descriptor: MetricNames.descriptor(MetricNames.requests),
            labels: [
                ("direction", key.direction), ("service", key.service), ("code", "\(key.status)"),
                ("class", statusClass),
            ])
        let durationKey = DurationKey(direction: key.direction, service: key.service, statusClass: statusClass)
        let duration =
            durations[durationKey]
            ?? registry.makeDurationHistogram(
                descriptor: MetricNames.descriptor(MetricNames.requestDuration),
                labels: [
                    ("direction", key.direction), ("service", key.service), ("class", statusClass), ("loop", loop),
                ],
                buckets: MetricNames.durationBuckets)
        durations[durationKey] = duration
        requests[key] = (count, duration)
        return (count, duration)
    }

    /// A service this loop routes to for the first time: its policy counters are shown from zero, so that
    /// dashboards and alerts find every series before the first retry, ejection or overflow.
    public func prepare(service: String) {
        for condition in ["connect-failure", "reset", "gateway-error", "5xx"] {
            count(MetricNames.retries, ("service", service), ("condition", condition), by: 0)
        }
        for reason in ["connect-refused", "connect-timeout", "connect-failed"] {
            count(MetricNames.connectFailures, ("service", service), ("reason", reason), by: 0)
        }
        count(MetricNames.ejections, ("service", service), by: 0)
        count(MetricNames.overflows, ("service", service), by: 0)
    }

    /// Mesher's own answers that are no parse error, from zero.
    public func prepareAnswers(_ reasons: [String]) {
        for reason in reasons { count(MetricNames.answers, ("reason", reason), by: 0) }
    }

    /// How long detection took and what it found (`http1`, `tls`, `opaque`, ...).
    public func detected(_ protocolName: String, nanoseconds: Int64) {
        count(MetricNames.detections, ("protocol", protocolName))
        if let timer = detectionTimers[protocolName] {
            return timer.recordNanoseconds(nanoseconds)
        }
        let timer = registry.makeDurationHistogram(
            descriptor: MetricNames.descriptor(MetricNames.detectionDuration),
            labels: [("protocol", protocolName), ("loop", loop)], buckets: MetricNames.detectionBuckets)
        detectionTimers[protocolName] = timer
        timer.recordNanoseconds(nanoseconds)
    }

    /// A downstream connection was accepted.
    public func connectionOpened(direction: String) {
        count(MetricNames.connectionsOpened, ("direction", direction))
    }

    /// A downstream connection ended: how (`ok`, `reset`, `connect-refused`, ...), and its bytes each way.
    public func connectionClosed(
        direction: String, protocolName: String, result: String, bytesUp: Int, bytesDown: Int
    ) {
        count(MetricNames.connectionsClosed, ("direction", direction), ("protocol", protocolName), ("result", result))
        count(MetricNames.sentBytes, ("direction", direction), ("protocol", protocolName), by: bytesUp)
        count(MetricNames.receivedBytes, ("direction", direction), ("protocol", protocolName), by: bytesDown)
    }

    /// A connect to an instance or destination failed (`connect-refused`, `connect-timeout`, ...).
    public func connectFailed(service: String?, reason: String) {
        count(MetricNames.connectFailures, ("service", service ?? MetricNames.passthrough), ("reason", reason))
    }

    public func retried(service: String, condition: String) {
        count(MetricNames.retries, ("service", service), ("condition", condition))
    }

    public func ejected(service: String) {
        count(MetricNames.ejections, ("service", service))
    }

    public func overflowed(service: String) {
        count(MetricNames.overflows, ("service", service))
    }

    /// A gRPC call ended with `status` (0-16; anything else counts as 2, UNKNOWN, as gRPC reads it).
    public func grpcCall(direction: String, service: String?, status: Int) {
        let code = (0...16).contains(status) ? status : 2
        count(
            MetricNames.grpcCalls, ("direction", direction), ("service", service ?? MetricNames.passthrough),
            ("grpc_status", Self.codes[code]))
    }

    private static let codes = (0...16).map(String.init)

    /// Mesher answered a request itself, for `reason` (its `x-mesher-error`).
    public func answered(reason: String) {
        count(MetricNames.answers, ("reason", reason))
    }

    private func count(
        _ name: String, _ first: (String, String), _ second: (String, String)? = nil, _ third: (String, String)? = nil,
        by amount: Int = 1
    ) {
        let key = CounterKey(name: name, first: first.1, second: second?.1 ?? "", third: third?.1 ?? "")
        if let counter = counters[key] {
            if amount > 0 { counter.increment(by: Int64(amount)) }
            return
        }
        let counter = registry.makeCounter(
            descriptor: MetricNames.descriptor(name), labels: [first] + [second, third].compactMap { $0 })
        counters[key] = counter
        if amount > 0 { counter.increment(by: Int64(amount)) }
    }
}
