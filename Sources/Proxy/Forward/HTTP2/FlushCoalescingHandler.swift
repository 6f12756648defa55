import NIOCore

/// One flush per event-loop tick for an HTTP/2 connection: its streams are flushed one by one, each from
/// another connection's event (a request read from a client, a response from an instance), and nio-http2
/// coalesces only the flushes made while its own connection reads. Without this, every stream cost a write
/// system call each way; with it, all the streams a tick touched go out in one.
final class FlushCoalescingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer

    private var pending = false

    func flush(context: ChannelHandlerContext) {
        guard !pending else { return }
        pending = true
        context.eventLoop.assumeIsolated().execute { [self] in
            pending = false
            context.flush()
        }
    }
}
