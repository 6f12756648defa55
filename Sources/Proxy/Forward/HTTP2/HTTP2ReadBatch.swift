import NIOCore

/// Holds back the requests of streams whose headers came in the connection's current read until the read is
/// done, then sends them: a stream reset in the same read (HEADERS and RST_STREAM together, the rapid-reset
/// attack) never makes a request or an upstream connection. Last in the connection's pipeline, so its read
/// complete comes after nio-http2 has handed every stream its frames.
final class HTTP2ReadBatch: ChannelInboundHandler {
    typealias InboundIn = Never

    private var waiting: [HTTP2StreamHandler] = []

    func hold(_ stream: HTTP2StreamHandler) {
        waiting.append(stream)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // A request sent here may end a stream, whose next one may be held again: take the list first.
        var streams = waiting
        waiting = []
        for stream in streams { stream.dispatchHeld() }
        streams.removeAll(keepingCapacity: true)
        if waiting.isEmpty { waiting = streams }
        context.fireChannelReadComplete()
    }
}
