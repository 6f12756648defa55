import NIOCore

/// Original destinations that spoke first while their clients stayed silent for a whole sniff window: server-first protocols on
/// ports not known to be opaque (MariaDB on a port of its own, say). The next connections to them are relayed
/// at once instead of waiting out the window again. One per event loop, so no lock; bounded, and every entry
/// expires, so that a destination that changed is learnt again.
final class ServerFirstCache {
    let capacity: Int
    let ttl: TimeAmount
    private var expiry: [SocketAddress: NIODeadline] = [:]

    init(capacity: Int, ttl: TimeAmount) {
        self.capacity = capacity
        self.ttl = ttl
    }

    var count: Int { expiry.count }

    func contains(_ destination: SocketAddress, now: NIODeadline) -> Bool {
        guard let until = expiry[destination] else { return false }
        if until > now { return true }
        expiry[destination] = nil
        return false
    }

    func insert(_ destination: SocketAddress, now: NIODeadline) {
        guard capacity > 0 else { return }
        if expiry[destination] == nil && expiry.count >= capacity { evict(now: now) }
        expiry[destination] = now + ttl
    }

    func remove(_ destination: SocketAddress) {
        expiry[destination] = nil
    }

    /// Drops what expired, or else the entry nearest its end (the oldest: all live equally long). Only on an
    /// insert into a full cache, so at most once per sniff window that ran out.
    private func evict(now: NIODeadline) {
        let before = expiry.count
        expiry = expiry.filter { $0.value > now }
        if expiry.count < before { return }
        if let oldest = expiry.min(by: { $0.value < $1.value }) { expiry[oldest.key] = nil }
    }
}
