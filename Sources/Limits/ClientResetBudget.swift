import Synchronization

/// HTTP/2 streams each client address may reset per window, across all its connections: the per-connection
/// limit alone lets a client reset just under it on many connections at once. Taken only when a client
/// resets a stream that is under way, never per request. Remembers at most `capacity` addresses.
public final class ClientResetBudget: Sendable {
    private struct Count {
        var since: UInt64
        var resets: Int
    }

    private let maxResets: Int
    private let window: UInt64
    private let capacity: Int
    private let counts = Mutex<[[UInt8]: Count]>([:])

    /// `window` in nanoseconds.
    public init(maxResets: Int, window: UInt64, capacity: Int = 4096) {
        self.maxResets = maxResets
        self.window = window
        self.capacity = capacity
    }

    /// Counts one reset by `address` at `now` (monotonic nanoseconds): whether the address is now over its
    /// budget.
    public func reset(by address: [UInt8], now: UInt64) -> Bool {
        counts.withLock { counts in
            if counts[address] == nil && counts.count >= capacity {
                counts = counts.filter { now &- $0.value.since < window }
                if counts.count >= capacity, let any = counts.keys.first { counts[any] = nil }
            }
            var count = counts[address] ?? Count(since: now, resets: 0)
            if now &- count.since >= window { count = Count(since: now, resets: 0) }
            count.resets += 1
            counts[address] = count
            return count.resets > maxResets
        }
    }
}
