import Synchronization

/// A token bucket shared by every event loop without a lock: the generic cell rate algorithm keeps one
/// number, the time at which the bucket would be full again, and a request that finds it too far ahead is
/// refused. One compare-and-swap per request; the rate holds across loops exactly, where a share per loop
/// would halve it for a client whose connections all land on one loop.
public final class RequestRateLimiter: Sendable {
    /// Nanoseconds per token.
    private let interval: Int64
    /// How far ahead of now the theoretical arrival time may run: `burst` tokens.
    private let tolerance: Int64
    private let theoreticalArrival = Atomic<Int64>(0)

    public init(requestsPerSecond: Double, burst: Int) {
        interval = max(1, Int64((1e9 / requestsPerSecond).rounded()))
        tolerance = interval * Int64(max(burst, 1))
    }

    /// Takes a token at `now` (nanoseconds, monotonic): `nil` when there was one, else the nanoseconds until
    /// the next one (for Retry-After).
    public func acquire(now: Int64) -> Int64? {
        var current = theoreticalArrival.load(ordering: .relaxed)
        while true {
            let next = max(current, now) + interval
            if next - now > tolerance { return next - now - tolerance }
            let (exchanged, original) = theoreticalArrival.weakCompareExchange(
                expected: current, desired: next, ordering: .relaxed)
            if exchanged { return nil }
            current = original
        }
    }
}
