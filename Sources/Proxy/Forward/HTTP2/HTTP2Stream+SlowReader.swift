import Limits
import NIOCore

/// What one stream holds of its response for a client that has not taken it yet (its window is closed), and
/// whether its upstream side waits for the client meanwhile.
struct StreamBuffer {
    private(set) var bytes = 0
    /// Reading from the instance is paused until the client takes some.
    var waiting = false
    var stall: Scheduled<Void>?

    mutating func take(_ count: Int, from budget: ByteBudget) {
        bytes += count
        budget.take(count)
    }

    mutating func giveBack(_ count: Int, to budget: ByteBudget) {
        bytes -= count
        budget.giveBack(count)
    }

    /// What one stream may hold before reads from its instance pause (its instance's window then holds the
    /// rest).
    static let highWatermark = 64 * 1024

    /// Whether more may be read from the instance: the connection takes writes, and the stream holds nothing
    /// yet, or less than its high watermark while every connection together holds less than the budget (a
    /// stream holding nothing may always have one read, so that a client that reads is never stuck behind
    /// ones that do not).
    func mayRead(writable: Bool, budget: ByteBudget) -> Bool {
        writable && (bytes == 0 || bytes < Self.highWatermark && !budget.isExhausted)
    }

    mutating func stopWaiting() {
        waiting = false
        stall?.cancel()
        stall = nil
    }
}

extension HTTP2Stream {
    /// After a write: no more reads from the instance while the client does not take what the stream holds;
    /// a client that takes nothing for `slowReaderTimeout` has its stream reset.
    func pauseUpstreamIfNeeded() {
        guard let call, !isClosed else { return }
        let budget = forward.environment.slowReaders
        guard !buffered.mayRead(writable: server.isWritable, budget: budget) else { return }
        call.upstream?.pauseReading()
        guard !buffered.waiting else { return }
        buffered.waiting = true
        buffered.stall = eventLoop.assumeIsolated().scheduleTask(
            in: forward.environment.settings.http2.slowReaderTimeout
        ) { [self] in stalled() }
    }

    /// The client took some (or the budget has room again): reads from the instance go on.
    func resumeUpstreamIfAllowed() {
        guard buffered.waiting, !isClosed,
            buffered.mayRead(writable: server.isWritable, budget: forward.environment.slowReaders)
        else { return }
        buffered.stopWaiting()
        call?.upstream?.resumeReading()
    }

    private func stalled() {
        buffered.stall = nil
        guard buffered.waiting, let call, !isClosed else { return }
        connection.warnings.log(
            .stalledReader, "HTTP/2 stream reset: its client took nothing of the response",
            metadata: [
                "src": "\(connection.channel.remoteAddress?.logText ?? "-")", "held": "\(buffered.bytes)",
            ], to: logger)
        call.cancelTimers()
        call.upstream?.cancel()
        call.upstream = nil
        logCall(call, status: call.responseStatus ?? 0, error: "client-stalled")
        self.call = nil
        buffered.stopWaiting()
        reset()
    }
}
