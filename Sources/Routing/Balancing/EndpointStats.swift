import Discovery
import Foundation

/// An instance as the balancer keys it.
public struct EndpointKey: Hashable, Sendable, CustomStringConvertible {
    public var address: String
    public var port: Int

    public init(_ instance: ServiceInstance) {
        address = instance.address
        port = instance.port
    }

    public var description: String { address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)" }
}

/// What one event loop has seen of one instance. Times are monotonic nanoseconds.
struct EndpointStats {
    /// Until an instance answers, it is assumed this fast: new instances get tried (Linkerd's default RTT).
    static let defaultLatency = 30_000_000.0
    /// Over about this long, a faster sample pulls a slow average down (peak-EWMA's decay).
    static let decay = 10_000_000_000.0

    var outstanding = 0
    /// Peak-EWMA latency: a slower sample counts at once, faster ones only as they accumulate.
    var latency = Self.defaultLatency
    var lastSample: UInt64 = 0
    var lastPicked: UInt64 = 0
    var measured = false
    var consecutiveFailures = 0
    var ejections = 0
    var ejectedUntil: UInt64?

    mutating func observe(latency sample: Double, now: UInt64) {
        // The first answer replaces the assumed latency outright.
        if sample >= latency || !measured {
            latency = sample
        } else {
            let weight = exp(-Double(now &- lastSample) / Self.decay)
            latency = latency * weight + sample * (1 - weight)
        }
        lastSample = now
        measured = true
    }

    /// Whether to send the next request to this instance rather than `other` (peak-EWMA's cost: latency times
    /// requests outstanding). An instance that has not answered yet is assumed no slower than one that has (at
    /// the default 30 ms it would lose every pick to a measured 2 ms). With as many requests outstanding and
    /// latencies within a factor of 2, the one picked longest ago goes: a peak lingers for seconds, and under
    /// light load it would otherwise keep an instance that is merely unlucky out of every pick.
    func isPreferred(over other: EndpointStats) -> Bool {
        let (mine, theirs) = (assumedLatency(against: other), other.assumedLatency(against: self))
        if outstanding == other.outstanding && max(mine, theirs) <= 2 * min(mine, theirs) {
            return lastPicked <= other.lastPicked
        }
        return mine * Double(outstanding + 1) <= theirs * Double(other.outstanding + 1)
    }

    private func assumedLatency(against other: EndpointStats) -> Double {
        measured || !other.measured ? latency : min(latency, other.latency)
    }

    /// It lost a pick on latency alone: a peak stays for seconds when no new answer comes to pull it down, so
    /// each such loss takes a fifth off. A healthy instance that was merely unlucky is back in a few picks; one
    /// that is really slow gets a request now and then (one in about 30 when 100 times slower), whose answer
    /// puts its latency back at once.
    mutating func fade() {
        if measured { latency *= 0.8 }
    }

    /// Whether it is ejected at `now`; an ejection that ran out ends here, with a clean slate of failures.
    mutating func isEjected(now: UInt64) -> Bool {
        guard let until = ejectedUntil else { return false }
        if now < until { return true }
        ejectedUntil = nil
        consecutiveFailures = 0
        return false
    }
}
