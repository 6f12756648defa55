import NIOCore
import NIOHPACK

/// Where a client stream's request goes: a stream on a multiplexed HTTP/2 connection, or an exchange on a
/// pooled HTTP/1 connection for an instance that speaks only HTTP/1.
protocol HTTP2CallUpstream: AnyObject {
    /// The request's head went out: its next parts follow directly.
    var started: Bool { get }
    var isWritable: Bool { get }
    /// Sends the head, then `queued`.
    func start(_ call: HTTP2Call, queued: [HTTP2Call.Part])
    func send(_ part: HTTP2Call.Part)
    func flush()
    /// The request is no longer wanted.
    func cancel()
    func pauseReading()
    func resumeReading()
}

extension HTTP2UpstreamStream: HTTP2CallUpstream {
    func start(_ call: HTTP2Call, queued: [HTTP2Call.Part]) {
        // A request without a body ends with its headers.
        if queued.count == 1, case .end = queued[0] {
            send(.headers(.init(headers: call.upstreamHeaders, endStream: true)))
        } else {
            send(.headers(.init(headers: call.upstreamHeaders)))
            for part in queued { send(part) }
        }
        flush()
    }

    func send(_ part: HTTP2Call.Part) {
        send(HTTP2Call.frame(part))
    }
}
