import NIOCore

/// What one downstream connection did: its counters and how it ended, for its access-log line.
final class ConnectionRecord {
    var bytesUp = 0
    var bytesDown = 0
    /// Bumped on every read of either side; the idle timer compares it between ticks.
    var activity = 0
    private(set) var outcome = ConnectionOutcome.ok

    /// Sets the outcome unless an earlier cause is already recorded.
    func fail(_ outcome: ConnectionOutcome) {
        if self.outcome == .ok { self.outcome = outcome }
    }
}

/// What a connection's log line names besides its counters, each learnt once by one stage.
struct ConnectionLabels {
    /// Where the app was going (Accept); `nil` on the explicit proxy.
    var original: SocketAddress?
    /// The protocol seen in the first bytes (Detect).
    var protocolName: String?
    var serverName: String?
    /// Where a byte relay went when there was no original destination (explicit proxy CONNECT).
    var upstream: SocketAddress?
}
