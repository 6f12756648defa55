import NIOCore
import NIOHTTP2

/// The streams of one client HTTP/2 connection, past nio-http2's frame codec (which keeps its protections:
/// stream states, rapid reset, CONTINUATION, control-frame and header-list limits): each stream is an
/// `HTTP2Stream` in this table, with no channel, pipeline or promise of its own, and Mesher opens the
/// connection's and the streams' receive windows itself.
///
/// Between nio-http2 and its connection management, which sees the connection's frames and the streams'
/// opening and closing events only.
///
/// Requests whose headers came in the current read wait until the read is done: a stream reset in the same
/// read (HEADERS and RST_STREAM together, the rapid-reset attack) never makes a request or an upstream
/// connection.
final class HTTP2ServerHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    let connection: DownstreamConnection
    let accepted: Accepted
    let forward: HTTPForwardContext
    let eventLoop: any EventLoop
    private var context: ChannelHandlerContext?
    private var streams: [HTTP2StreamID: HTTP2Stream] = [:]
    /// Streams whose request waits for the end of the read, and streams that sent something upstream in it.
    private var waiting: [HTTP2Stream] = []
    private var touched: [HTTP2Stream] = []
    /// The connection's receive window: topped up as nio-http2 counts DATA in (each stream's window bounds
    /// what it holds).
    private let connectionWindow: Int
    private var lastStreamID = HTTP2StreamID.rootStream

    init(connection: DownstreamConnection, accepted: Accepted, forward: HTTPForwardContext) {
        self.connection = connection
        self.accepted = accepted
        self.forward = forward
        eventLoop = connection.channel.eventLoop
        connectionWindow = forward.environment.settings.http2.connectionWindow
    }

    var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        closeAll()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        // The connection's own frames go on to the connection management (PING acks); the streams' stop here.
        guard frame.streamID != .rootStream else { return context.fireChannelRead(data) }
        switch frame.payload {
        case .headers(let headers):
            let stream = streams[frame.streamID] ?? open(frame.streamID)
            stream.receivedHeaders(headers)
        case .data(let data):
            streams[frame.streamID]?.receivedData(data, length: ReceiveWindow.length(of: data))
        case .rstStream:
            if let stream = streams[frame.streamID], stream.resetByClient() { clientReset(context) }
        default:
            break
        }
    }

    private func open(_ id: HTTP2StreamID) -> HTTP2Stream {
        let stream = HTTP2Stream(id: id, server: self)
        streams[id] = stream
        lastStreamID = max(lastStreamID, id)
        return stream
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // A request sent here may end a stream, whose next one may be held again: take the list first.
        let streams = waiting
        waiting = []
        for stream in streams { stream.dispatchHeld() }
        let sent = touched
        touched = []
        for stream in sent { stream.flushUpstream() }
        context.fireChannelReadComplete()
    }

    /// `stream`'s request goes once the read is done.
    func hold(_ stream: HTTP2Stream) { waiting.append(stream) }

    /// `stream` sent a part of its request upstream: flushed once the read is done, however many it sent.
    func touched(_ stream: HTTP2Stream) {
        guard !stream.sentInRead else { return }
        stream.sentInRead = true
        touched.append(stream)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let closed as StreamClosedEvent:
            // nio-http2 also reports the close of a stream refused in its headers, which it never reported
            // open: the connection management counts only streams that were open.
            guard let stream = streams.removeValue(forKey: closed.streamID) else { return }
            stream.closed()
        case let update as NIOHTTP2WindowUpdatedEvent where update.streamID == .rootStream:
            if let increment = ReceiveWindow.connectionIncrement(update, target: connectionWindow) {
                write(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: increment)))
            }
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            for stream in streams.values { stream.connectionWritable() }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeAll()
        context.fireChannelInactive()
    }

    private func closeAll() {
        let open = streams.values
        streams = [:]
        for stream in open { stream.closed() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A stream's error (nio-http2 has reset it; its close follows) or the connection's (GOAWAY went out).
        forward.environment.logger.debug("HTTP/2 error", metadata: ["error": "\(error)"])
    }

    /// Counts the reset against the client's address, all its connections together: over the budget, this
    /// connection ends with GOAWAY (ENHANCE_YOUR_CALM), as nio-http2 ends one over its own count.
    private func clientReset(_ context: ChannelHandlerContext) {
        guard let address = connection.channel.remoteAddress?.ipBytes,
            forward.environment.resets.reset(by: address, now: NIODeadline.now().uptimeNanoseconds)
        else { return }
        connection.warnings.log(
            .resets, "HTTP/2 client over its stream reset budget: connection closed",
            metadata: ["src": "\(connection.channel.remoteAddress?.logText ?? "-")"], to: forward.environment.logger)
        let goAway = HTTP2Frame(
            streamID: .rootStream,
            payload: .goAway(lastStreamID: lastStreamID, errorCode: .enhanceYourCalm, opaqueData: nil))
        context.writeAndFlush(wrapOutboundOut(goAway)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    // MARK: - Writing

    func write(_ frame: HTTP2Frame, promise: EventLoopPromise<Void>? = nil) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    func flush() { context?.flush() }
}
