import Synchronization

/// Bytes held across every event loop against one limit, without a lock: one atomic add when bytes are
/// taken and one when they are given back. `peak` remembers the most held since it was last read, so that
/// a quiet moment after a peak can hand the freed memory back.
public final class ByteBudget: Sendable {
    public let limit: Int
    private let held = Atomic<Int>(0)
    private let peak = Atomic<Int>(0)

    public init(limit: Int) { self.limit = limit }

    public func take(_ bytes: Int) {
        let now = held.wrappingAdd(bytes, ordering: .relaxed).newValue
        if now > peak.load(ordering: .relaxed) { peak.max(now, ordering: .relaxed) }
    }

    public func giveBack(_ bytes: Int) { held.wrappingSubtract(bytes, ordering: .relaxed) }

    public var current: Int { held.load(ordering: .relaxed) }
    public var isExhausted: Bool { current >= limit }

    /// The most held since the previous call.
    public func takePeak() -> Int { peak.exchange(current, ordering: .relaxed) }
}
