import NIOCore
import NIOHPACK
import NIOHTTP2

/// Where an upstream stream's response goes (the client's stream).
protocol HTTP2UpstreamReceiver: AnyObject {
    func upstreamHeaders(_ headers: HPACKHeaders, endStream: Bool)
    func upstreamData(_ data: ByteBuffer, endStream: Bool)
    func upstreamReadComplete()
    /// The stream takes more of the request.
    func upstreamWritable()
    /// The stream ended before its response did.
    func upstreamFailed(_ failure: HTTP2UpstreamStreamHandler.Failure)
}

/// One request's stream on a multiplexed upstream connection: writes the request, hands the response to its
/// receiver, and reads only while the receiver's client takes what it reads (so the instance's window, not
/// Mesher's memory, holds a slow client's response).
final class HTTP2UpstreamStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    enum Failure: Equatable {
        /// The instance refused the stream (REFUSED_STREAM, or above a GOAWAY's last stream): it did nothing
        /// with the request.
        case refused
        /// Reset, or the connection went, with the request possibly begun.
        case reset
    }

    /// Set until the response ends or the stream is given up.
    var receiver: (any HTTP2UpstreamReceiver)?
    /// The request's headers went out: its next parts follow directly.
    var started = false
    private var context: ChannelHandlerContext?
    private var paused = false
    private var pendingRead = false
    private var failure = Failure.reset
    private var responseEnded = false

    init(receiver: any HTTP2UpstreamReceiver) { self.receiver = receiver }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func send(_ payload: HTTP2Frame.FramePayload) {
        context?.write(wrapOutboundOut(payload), promise: nil)
    }

    func flush() { context?.flush() }

    /// The request is no longer wanted: the stream is reset (CANCEL) if it is still open.
    func cancel() {
        receiver = nil
        context?.close(promise: nil)
    }

    func pauseReading() { paused = true }

    func resumeReading() {
        paused = false
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    func read(context: ChannelHandlerContext) {
        if paused { pendingRead = true } else { context.read() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if headers.endStream { responseEnded = true }
            receiver?.upstreamHeaders(headers.headers, endStream: headers.endStream)
        case .data(let data):
            if data.endStream { responseEnded = true }
            guard case .byteBuffer(let buffer) = data.data else { return }
            receiver?.upstreamData(buffer, endStream: data.endStream)
        default:
            break
        }
        if responseEnded { receiver = nil }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        receiver?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { receiver?.upstreamWritable() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let closed = error as? NIOHTTP2Errors.StreamClosed, closed.errorCode == .refusedStream {
            failure = .refused
        }
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Above the last stream a GOAWAY let through: never processed.
        if let closed = event as? StreamClosedEvent, closed.reason == .refusedStream { failure = .refused }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let receiver = receiver
        self.receiver = nil
        if !responseEnded { receiver?.upstreamFailed(failure) }
    }
}
