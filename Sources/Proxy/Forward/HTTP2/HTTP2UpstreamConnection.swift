import NIOCore
import NIOHTTP2
import Routing

/// One HTTP/2 connection to an upstream and the streams it carries, past nio-http2's frame codec: each
/// stream is an `HTTP2UpstreamStream` in this table (no channel of its own), how many are open or reserved,
/// how many the peer allows, and whether it is going away. Closed when it has had no stream for the pool's
/// idle timeout.
final class HTTP2UpstreamConnection {
    let address: SocketAddress
    /// Weak: at shutdown the loop's pool may go before its connections' last callbacks.
    private weak var pool: HTTP2UpstreamPool?
    /// The service's breaker count this connection holds a place in.
    private let limit: ServiceConnections?
    private var context: ChannelHandlerContext?
    private var table: [HTTP2StreamID: HTTP2UpstreamStream] = [:]
    private var nextStreamID = HTTP2StreamID(1)
    /// Streams that had frames in the current read.
    private var touched: [HTTP2UpstreamStream] = []
    /// Streams open or about to be.
    private(set) var streams = 0
    /// The peer's `SETTINGS_MAX_CONCURRENT_STREAMS`; 100 until it says (RFC 9113 recommends no less).
    private var maxStreams = 100
    private var goingAway = false
    private var closed = false
    /// Streams that wait for the connect.
    private var pendingOpens: [HTTP2UpstreamStream] = []
    /// One timer for the connection's idle checks (not one per stream that ends): it fires at
    /// `idleSince + idleTimeout` and closes the connection if no stream came meanwhile.
    private var idleTimer: Scheduled<Void>?
    private var idleSince = NIODeadline.distantFuture

    let eventLoop: any EventLoop
    private let idleTimeout: TimeAmount
    let streamWindow: Int
    private let connectionWindow: Int

    init(address: SocketAddress, pool: HTTP2UpstreamPool, limit: ServiceConnections?) {
        self.address = address
        self.pool = pool
        eventLoop = pool.eventLoop
        idleTimeout = pool.idleTimeout
        streamWindow = pool.limits.streamWindow
        connectionWindow = pool.limits.connectionWindow
        self.limit = limit
    }

    var hasRoom: Bool { !goingAway && !closed && streams < maxStreams }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func reserve() {
        streams += 1
        idleSince = .distantFuture
    }

    /// `stream` goes out once the connection is up (at once if it is); it fails if it never comes up.
    func open(_ stream: HTTP2UpstreamStream) {
        if closed {
            stream.connectFailed(ChannelError.ioOnClosedChannel)
        } else if context == nil {
            pendingOpens.append(stream)
        } else {
            stream.connected()
        }
    }

    /// The stream's id, as its headers go out.
    func register(_ stream: HTTP2UpstreamStream) -> HTTP2StreamID {
        let id = nextStreamID
        nextStreamID = HTTP2StreamID(Int32(id) + 2)
        table[id] = stream
        return id
    }

    func write(_ frame: HTTP2Frame, promise: EventLoopPromise<Void>? = nil) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.write(NIOAny(frame), promise: promise)
    }

    func flush() { context?.flush() }

    /// A stream ended (or never opened): an idle connection closes after the pool's idle timeout.
    func release() {
        streams -= 1
        guard streams == 0, let context, !closed else { return }
        if goingAway { return context.close(promise: nil) }
        idleSince = .now()
        if idleTimer == nil { scheduleIdleCheck(at: idleSince + idleTimeout) }
    }

    private func scheduleIdleCheck(at deadline: NIODeadline) {
        idleTimer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            idleTimer = nil
            guard streams == 0, !closed, let context else { return }
            let due = idleSince + idleTimeout
            guard due <= .now() else { return scheduleIdleCheck(at: due) }
            goingAway = true
            pool?.remove(self)
            context.close(promise: nil)
        }
    }

    func failed(_ error: any Error) {
        ended()
        let opens = pendingOpens
        pendingOpens = []
        for stream in opens { stream.connectFailed(error) }
    }

    private func ended() {
        guard !closed else { return }
        closed = true
        idleTimer?.cancel()
        pool?.remove(self)
        limit?.closed()
    }

    /// The connection's end of the pipeline: frames to their streams, the peer's stream limit, GOAWAY.
    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame

        private let connection: HTTP2UpstreamConnection

        init(_ connection: HTTP2UpstreamConnection) { self.connection = connection }

        func channelActive(context: ChannelHandlerContext) {
            connection.context = context
            let opens = connection.pendingOpens
            connection.pendingOpens = []
            for stream in opens { stream.connected() }
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            switch frame.payload {
            case .headers(let headers):
                guard let stream = connection.table[frame.streamID] else { return }
                touch(stream)
                stream.receivedHeaders(headers)
            case .data(let data):
                guard let stream = connection.table[frame.streamID] else { return }
                touch(stream)
                stream.receivedData(data, length: ReceiveWindow.length(of: data))
            case .settings(.settings(let settings)):
                for setting in settings where setting.parameter == .maxConcurrentStreams {
                    connection.maxStreams = setting.value
                }
            case .goAway:
                // Streams under way finish (or fail and are retried); new ones go to another connection.
                connection.goingAway = true
                connection.pool?.remove(connection)
            default:
                break
            }
        }

        /// `stream` hears of the read's end once, however many of its frames the read held.
        private func touch(_ stream: HTTP2UpstreamStream) {
            guard !stream.inRead else { return }
            stream.inRead = true
            connection.touched.append(stream)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            let streams = connection.touched
            connection.touched = []
            for stream in streams { stream.readComplete() }
            context.flush()
            context.fireChannelReadComplete()
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            switch event {
            case let closed as StreamClosedEvent:
                connection.table.removeValue(forKey: closed.streamID)?.closed(reason: closed.reason)
            case let update as NIOHTTP2WindowUpdatedEvent where update.streamID == .rootStream:
                if let increment = ReceiveWindow.connectionIncrement(update, target: connection.connectionWindow) {
                    connection.write(
                        HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: increment)))
                }
            default:
                break
            }
            context.fireUserInboundEventTriggered(event)
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            if context.channel.isWritable {
                for stream in connection.table.values { stream.writable() }
            }
            context.fireChannelWritabilityChanged()
        }

        func channelInactive(context: ChannelHandlerContext) {
            connection.ended()
            connection.context = nil
            let open = connection.table.values
            connection.table = [:]
            for stream in open { stream.closed(reason: nil) }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // A write on a stream that closed meanwhile: that stream's alone.
            if error is NIOHTTP2Errors.StreamError { return }
            // A stream's error (nio-http2 has reset it; its close follows) or the connection's (GOAWAY went out):
            // no new stream goes on it, and it closes once the streams under way are done.
            connection.goingAway = true
            connection.pool?.remove(connection)
            if connection.streams == 0 { context.close(promise: nil) }
        }
    }
}
