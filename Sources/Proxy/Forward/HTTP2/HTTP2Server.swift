import NIOCore
import NIOHTTP2

/// The client side of an HTTP/2 connection: nio-http2 takes the frames apart (and enforces the stream,
/// reset, CONTINUATION and control-frame limits), `HTTP2ServerHandler` gives each stream its `HTTP2Stream`,
/// and a drain sends GOAWAY and closes once the streams under way ended.
enum HTTP2Server {
    /// Installs the HTTP/2 server after `anchor` (Detect's handler: the preface and what follows are read from
    /// the bytes it hands on), or first.
    static func install(
        on pipeline: ChannelPipeline.SynchronousOperations, after anchor: (any ChannelHandler)?,
        connection: DownstreamConnection, accepted: Accepted, forward: HTTPForwardContext
    ) throws {
        let eventLoop = connection.channel.eventLoop
        let settings = forward.environment.settings
        let configuration = settings.http2.configuration(maxHeaderListSize: settings.httpLimits.maxHeadBytes)
        let management = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: eventLoop,
            configuration: .init(
                maxIdleTime: settings.idleTimeout, maxAge: nil, maxGraceTime: settings.drainGrace * 10,
                keepalive: nil))
        // No multiplexer: the streams are entries in `HTTP2ServerHandler`'s table (a channel per stream cost
        // more than all of Mesher's own work on it).
        let http2 = NIOHTTP2Handler(
            mode: .server, connectionConfiguration: configuration.connection, streamConfiguration: configuration.stream)
        let counter = HTTP2ConnectionHandler(connection: connection)
        try pipeline.addHandler(counter, position: anchor.map { .after($0) } ?? .first)
        let coalescer = FlushCoalescingHandler()
        try pipeline.addHandler(coalescer, position: .after(counter))
        try pipeline.addHandler(http2, position: .after(coalescer))
        let streams = HTTP2ServerHandler(connection: connection, accepted: accepted, forward: forward)
        try pipeline.addHandler(streams, position: .after(http2))
        try pipeline.addHandler(management, position: .after(streams))
    }
}

/// Counts a client HTTP/2 connection's bytes and activity for its record and idle timer, and ends the
/// connection's record when it closes.
final class HTTP2ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let connection: DownstreamConnection
    /// A close asked for while the client had not read everything yet.
    private var closing = false

    init(connection: DownstreamConnection) { self.connection = connection }

    /// nio-http2 closes once the last stream ended, which may be while the socket still holds that stream's
    /// last bytes for a slow reader, and a close drops writes still queued: the first close waits for them (at
    /// most the drain grace, ten times over); any later one (the drain's deadline) closes at once.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, !closing else { return context.close(mode: mode, promise: promise) }
        closing = true
        let grace = connection.environment.settings.drainGrace * 10
        let timer = context.eventLoop.assumeIsolated().scheduleTask(in: grace) { context.close(promise: nil) }
        context.writeAndFlush(NIOAny(ByteBuffer())).assumeIsolated().whenComplete { _ in
            timer.cancel()
            context.close(mode: mode, promise: promise)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.record.activity &+= 1
        connection.record.bytesUp += unwrapInboundIn(data).readableBytes
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        connection.record.bytesDown += unwrapOutboundIn(data).readableBytes
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent { connection.quiesce() }
        context.fireUserInboundEventTriggered(event)
        // The client sent FIN (half-closes are allowed on captured sockets): no new stream can come, so the
        // connection ends as in a drain once the streams under way are answered.
        if case .some(.inputClosed) = event as? ChannelEvent {
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.sideClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A protocol error (nio-http2 sent GOAWAY), too many resets, or the client went away.
        connection.environment.logger.debug("HTTP/2 connection error", metadata: ["error": "\(error)"])
        connection.record.fail(.reset)
        context.close(promise: nil)
    }
}
