import Prometheus
import Synchronization
import Telemetry

/// `/metrics`: the registry every event loop records into, plus what is read only when scraped (the process's
/// figures, the registry view's size), in the Prometheus text format.
public final class MetricsExporter: Sendable {
    /// What the registry view holds, read at each scrape.
    public struct RegistryFigures: Sendable {
        public var services: Int
        public var instancesUp: Int
        public var instancesDown: Int
        public var synced: Bool
        /// Since the epoch; 0 before the first view.
        public var lastSync: Double
        /// Full views read: the first, and one after each reconnect.
        public var syncs: Int

        public init(
            services: Int, instancesUp: Int, instancesDown: Int, synced: Bool, lastSync: Double, syncs: Int = 0
        ) {
            self.services = services
            self.instancesUp = instancesUp
            self.instancesDown = instancesDown
            self.synced = synced
            self.lastSync = lastSync
            self.syncs = syncs
        }
    }

    /// A total kept elsewhere (an atomic of its own), read at each scrape: the counter gets what it grew by.
    public struct Total: Sendable {
        public var name: String
        public var labels: [(String, String)]
        public var value: Double

        public init(_ name: String, _ labels: [(String, String)], _ value: Double) {
            self.name = name
            self.labels = labels
            self.value = value
        }
    }

    public let registry: PrometheusCollectorRegistry
    private let registryFigures: @Sendable () -> RegistryFigures?
    private let totals: @Sendable () -> [Total]
    /// What each total had reached at the last scrape, by name and label values.
    private let counted = Mutex<[String: Double]>([:])

    /// `registry`: the one the event loops record into.
    public init(
        registry: PrometheusCollectorRegistry, registryFigures: @escaping @Sendable () -> RegistryFigures?,
        totals: @escaping @Sendable () -> [Total] = { [] }
    ) {
        self.registry = registry
        self.registryFigures = registryFigures
        self.totals = totals
    }

    public func render() -> [UInt8] {
        if let process = ProcessStats.current() {
            gauge(MetricNames.residentMemory).set(to: Double(process.residentBytes))
            gauge(MetricNames.openFDs).set(to: Double(process.openFDs))
            gauge(MetricNames.maxFDs).set(to: Double(process.maxFDs))
            gauge(MetricNames.startTime).set(to: process.startTime)
            add(Total(MetricNames.cpuSeconds, [], process.cpuSeconds))
        }
        for total in totals() { add(total) }
        if let figures = registryFigures() {
            gauge(MetricNames.registryServices).set(to: Double(figures.services))
            instances("up").set(to: Double(figures.instancesUp))
            instances("down").set(to: Double(figures.instancesDown))
            gauge(MetricNames.registrySynced).set(to: figures.synced ? 1 : 0)
            gauge(MetricNames.registryLastSync).set(to: figures.lastSync)
            add(Total(MetricNames.registrySyncs, [], Double(figures.syncs)))
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }

    /// A counter only goes up: it is given what `total` grew by since the last scrape.
    private func add(_ total: Total) {
        let key = ([total.name] + total.labels.map(\.1)).joined(separator: "\u{0}")
        let grown = counted.withLock { counted in
            defer { counted[key] = max(counted[key] ?? 0, total.value) }
            return max(0, total.value - (counted[key] ?? 0))
        }
        let counter =
            total.labels.isEmpty
            ? registry.makeCounter(descriptor: MetricNames.descriptor(total.name))
            : registry.makeCounter(descriptor: MetricNames.descriptor(total.name), labels: total.labels)
        counter.increment(by: grown)
    }

    private func gauge(_ name: String) -> Gauge {
        registry.makeGauge(descriptor: MetricNames.descriptor(name))
    }

    private func instances(_ state: String) -> Gauge {
        registry.makeGauge(
            descriptor: MetricNames.descriptor(MetricNames.registryInstances), labels: [("state", state)])
    }
}
