import HTTP1
import NIOCore

/// Reads the rest of a response nobody wants any more (its HTTP/2 stream was reset after the request went
/// out) and puts the connection back in the pool: closing it instead would make every cancelled stream cost a
/// new upstream connection, which a client resetting streams just under its limit chooses. Bounded: a response
/// longer than `maxBytes`, or not done within `timeout`, closes the connection after all.
final class ResponseDiscard: UpstreamResponseReceiver {
    static let maxBytes = 256 * 1024
    static let timeout = TimeAmount.seconds(5)

    private let handler: UpstreamHTTPHandler
    private let pool: UpstreamPool
    private var bytes = 0
    /// The handler holds its receiver weakly: this timer's task is what keeps the discard alive.
    private var timer: Scheduled<Void>?

    private init(handler: UpstreamHTTPHandler, pool: UpstreamPool) {
        self.handler = handler
        self.pool = pool
    }

    /// Takes over `handler`, whose request went out whole and whose response has not ended.
    static func start(_ handler: UpstreamHTTPHandler, pool: UpstreamPool) {
        let discard = ResponseDiscard(handler: handler, pool: pool)
        handler.receiver = discard
        handler.resumeReading()
        discard.timer = pool.eventLoop.assumeIsolated().scheduleTask(in: timeout) { discard.finish(reusable: false) }
    }

    private func finish(reusable: Bool) {
        timer?.cancel()
        timer = nil
        guard handler.receiver === self else { return }
        if reusable { pool.release(handler) } else { handler.abandon() }
    }

    func upstreamInterim(_ head: HTTP1Head) {}
    func upstreamResponseHead(_ head: HTTP1Head, framing: HTTP1Head.Framing) {}

    func upstreamResponseBody(_ data: ByteBuffer) {
        bytes += data.readableBytes
        if bytes > Self.maxBytes { finish(reusable: false) }
    }

    func upstreamResponseEnd(trailers: ByteBuffer?, reusable: Bool) { finish(reusable: reusable) }
    func upstreamSwitched(_ head: HTTP1Head, leftover: ByteBuffer?) { finish(reusable: false) }
    func upstreamReadComplete() {}
    func upstreamWritable() {}

    func upstreamFailed(_ failure: UpstreamFailure) {
        timer?.cancel()
        timer = nil
    }
}
