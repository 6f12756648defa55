import NIOCore
import NIOHTTP2

/// The client side of an HTTP/2 connection: nio-http2 takes the frames apart (and enforces the stream,
/// reset, CONTINUATION and control-frame limits), each stream gets its `HTTP2StreamHandler`, and a drain
/// sends GOAWAY and closes once the streams under way ended.
enum HTTP2Server {
    /// Installs the HTTP/2 server after `anchor` (Detect's handler: the preface and what follows are read from
    /// the bytes it hands on), or first.
    static func install(
        on pipeline: ChannelPipeline.SynchronousOperations, after anchor: (any ChannelHandler)?,
        connection: DownstreamConnection, accepted: Accepted, forward: HTTPForwardContext, pool: HTTP2UpstreamPool
    ) throws {
        let eventLoop = connection.channel.eventLoop
        let settings = forward.environment.settings
        let configuration = settings.http2.configuration(maxHeaderListSize: settings.httpLimits.maxHeadBytes)
        let management = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: eventLoop,
            configuration: .init(
                maxIdleTime: settings.idleTimeout, maxAge: nil, maxGraceTime: settings.drainGrace * 10,
                keepalive: nil))
        let http2 = NIOHTTP2Handler(
            mode: .server, eventLoop: eventLoop, connectionConfiguration: configuration.connection,
            streamConfiguration: configuration.stream, streamDelegate: management.http2StreamDelegate
        ) {
            [
                makeStream = NIOLoopBound(
                    { HTTP2StreamHandler(connection: connection, accepted: accepted, forward: forward, pool: pool) },
                    eventLoop: eventLoop)
            ] stream in
            // A stream's channel is on its connection's event loop.
            stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(makeStream.value()) }
        }
        let counter = HTTP2ConnectionHandler(connection: connection)
        try pipeline.addHandler(counter, position: anchor.map { .after($0) } ?? .first)
        try pipeline.addHandler(http2, position: .after(counter))
        try pipeline.addHandler(management, position: .after(http2))
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

    init(connection: DownstreamConnection) { self.connection = connection }

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
