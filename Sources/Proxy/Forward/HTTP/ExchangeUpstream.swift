import NIOCore

/// Where an HTTP/1 exchange's request goes: a pooled HTTP/1.1 connection (`UpstreamHTTPHandler`), or a stream
/// of a multiplexed HTTP/2 connection for an instance registered `protocol: h2c` (`HTTP2UpstreamBridge`).
/// The response comes back to its receiver as HTTP/1 either way.
protocol ExchangeUpstream: AnyObject {
    var receiver: (any UpstreamResponseReceiver)? { get set }
    var isWritable: Bool { get }
    /// `head`: the request as Mesher writes it upstream (HTTP/1.1 bytes).
    func sendHead(_ head: ByteBuffer, kind: UpstreamHTTPHandler.RequestKind)
    func sendBody(_ data: ByteBuffer, chunked: Bool)
    func sendEnd(trailers: ByteBuffer?, chunked: Bool)
    func flush()
    /// The exchange no longer wants it: whatever is under way is cut off.
    func abandon()
    /// The exchange is done with it; `reusable`: its response ended cleanly and it may serve another.
    func finished(reusable: Bool, pool: UpstreamPool)
    func pauseReading()
    func resumeReading()
}

extension UpstreamHTTPHandler: ExchangeUpstream {
    func finished(reusable: Bool, pool: UpstreamPool) {
        if reusable { pool.release(self) } else { abandon() }
    }
}
