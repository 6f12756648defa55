import HTTP1
import NIOCore

/// L7 forwarding of one downstream HTTP/1.x connection: each request head is parsed strictly, routed
/// (Host → service → instance, else the original destination), sent on a pooled keep-alive upstream
/// connection with framing Mesher writes itself, and its response streamed back.
///
/// Pipelined requests wait unparsed until the response before them is done (reading stops meanwhile); a
/// malformed request gets a 400 and the connection closes, since nothing after it can be trusted.
final class HTTPForwardHandler: ChannelDuplexHandler, RemovableChannelHandler, NIOScheduledCallbackHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        case head
        case body(HTTP1BodyDecoder)
        /// The request is complete, its response is not: what arrives meanwhile waits in `input`.
        case waiting
        /// A last response is going out, then the connection closes; input is ignored.
        case closing
        /// Handed to the byte relay (upgrade, CONNECT).
        case tunnel
    }

    static let hopHeader = "x-mesher-hop"
    /// Two Meshers per call (consumer and provider side), a few calls deep: far more is a loop.
    static let maxHops = 16

    let session: RelaySession
    let loop: LoopState
    var pool: UpstreamPool { loop.pool }
    var context: ChannelHandlerContext?
    var phase = Phase.head
    var exchange: HTTPExchange?
    /// Bytes from the client not parsed yet.
    var input: ByteBuffer?
    var pendingRead = false
    /// The client half-closed: close once what it sent is answered.
    var inputClosed = false
    /// The client half-closed and every byte it sent is read: nothing more to answer after this.
    var clientIsDone: Bool { inputClosed && input == nil }
    private var parser: HTTP1HeadParser
    private var headTimer: NIOScheduledCallback?

    init(session: RelaySession) {
        self.session = session
        self.loop = session.environment.loop(session.downstream.eventLoop)
        self.parser = HTTP1HeadParser(role: .request, limits: session.environment.settings.httpLimits)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        headTimer?.cancel()
        self.context = nil
    }

    // MARK: - Bytes from the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        session.activity &+= 1
        session.bytesUp += bytes.readableBytes
        switch phase {
        case .closing, .tunnel: return
        case .head, .body, .waiting: break
        }
        input.setOrWriteBuffer(&bytes)
        process()
    }

    /// Parses what it can: request heads, then bodies, until a request is complete or bytes run out.
    func process() {
        while context != nil {
            switch phase {
            case .head:
                guard var buffer = input else {
                    if inputClosed { closeConnection() }
                    return
                }
                let outcome = parser.parse(&buffer)
                input = buffer.readableBytes > 0 ? buffer : nil
                switch outcome {
                case .needMore:
                    if inputClosed { return closeConnection() }
                    return armHeadTimer()
                case .invalid(let error):
                    return refuse(.badRequest(error))
                case .head(let head):
                    cancelHeadTimer()
                    begin(head)
                }
            case .body(var decoder):
                var buffer = input ?? ByteBuffer()
                let event = decoder.next(&buffer)
                input = buffer.readableBytes > 0 ? buffer : nil
                switch event {
                case .needMore:
                    phase = .body(decoder)
                    if inputClosed { return refuse(.badRequest(.invalidChunk)) }
                    return
                case .data(let data):
                    phase = .body(decoder)
                    requestBody(data)
                case .end(let trailers):
                    phase = .waiting
                    requestEnd(trailers)
                case .invalid(let error):
                    phase = .closing
                    return requestBodyFailed(error)
                }
            case .waiting, .closing, .tunnel:
                return
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstream?.flush()
        context.fireChannelReadComplete()
    }

    /// Backpressure: a request body is read only while the upstream takes it; a pipelined request waits for
    /// the response before it; nothing is read once the connection is closing.
    func read(context: ChannelHandlerContext) {
        switch phase {
        case .waiting where input != nil, .closing:
            pendingRead = true
        case .body where exchange.map { $0.answer == nil && !($0.upstream?.isWritable ?? false) } ?? false:
            pendingRead = true
        default:
            context.read()
        }
    }

    func readIfPending() {
        guard pendingRead, let context else { return }
        pendingRead = false
        read(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            inputClosed = true
            process()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client left mid-exchange: that upstream connection is in an unknown state, never reuse it.
        exchange?.upstream?.abandon()
        exchange = nil
        phase = .closing
        session.sideClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The client reset the connection or similar: nothing to answer.
        session.environment.logger.debug("downstream error", metadata: ["error": "\(error)"])
        session.fail(.reset)
        context.close(promise: nil)
    }

    // MARK: - Head timeout

    /// Part of a head is here: the rest must come within `http.headerTimeout` (slowloris).
    private func armHeadTimer() {
        guard headTimer == nil, let context else { return }
        headTimer = try? context.eventLoop.assumeIsolated().scheduleCallback(
            in: session.environment.settings.headerTimeout, handler: self)
    }

    func cancelHeadTimer() {
        headTimer?.cancel()
        headTimer = nil
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        headTimer = nil
        guard case .head = phase else { return }
        refuse(.requestTimeout)
    }

    // MARK: - Writing to the client

    func write(_ buffer: ByteBuffer) {
        session.bytesDown += buffer.readableBytes
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// Closes once everything written so far has gone out.
    func closeConnection() {
        phase = .closing
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
