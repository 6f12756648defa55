/// What one event loop knows of one service's instances, for the admin API (`/clusters`): read on that loop,
/// then merged with the other loops' views.
public struct EndpointReport: Sendable, Equatable {
    public struct Instance: Sendable, Equatable {
        public var key: EndpointKey
        /// Requests (or connects) leased and not settled.
        public var active: Int
        /// Peak-EWMA latency; `nil` until it answered on this loop.
        public var ewmaNanoseconds: Double?
        public var consecutiveFailures: Int
        public var ejections: Int
        /// Nanoseconds of ejection left; `nil` when not ejected.
        public var ejectedFor: UInt64?
    }

    public var service: String
    public var loadBalancer: String
    public var outstanding: Int
    public var connections: Int
    public var pendingRequests: Int
    public var instances: [Instance]
}

extension EndpointTable {
    /// Every service this loop has leased for, at `now`.
    public func report(now: UInt64) -> [EndpointReport] {
        services.map { name, entry in
            EndpointReport(
                service: name, loadBalancer: entry.policy.loadBalancer.rawValue, outstanding: entry.outstanding,
                connections: entry.connections.open, pendingRequests: entry.connections.pending,
                instances: entry.stats.map { key, stats in
                    EndpointReport.Instance(
                        key: key, active: stats.outstanding, ewmaNanoseconds: stats.measured ? stats.latency : nil,
                        consecutiveFailures: stats.consecutiveFailures, ejections: stats.ejections,
                        ejectedFor: stats.ejectedUntil.flatMap { $0 > now ? $0 - now : nil })
                }.sorted { ($0.key.address, $0.key.port) < ($1.key.address, $1.key.port) })
        }.sorted { $0.service < $1.service }
    }
}
