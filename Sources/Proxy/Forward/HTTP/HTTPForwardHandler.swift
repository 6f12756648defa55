import HTTP1
import Logging
import NIOCore
import Routing
import Telemetry

/// What the HTTP forwarder of a connection needs beyond the connection: routes, this event loop's upstream
/// pool, and how to open a tunnel.
struct HTTPForwardContext {
    let environment: ProxyEnvironment
    let routes: RouteTable
    /// This loop's route rules (swapped whole on a reload).
    let rules: LoopRoutes
    let pool: UpstreamPool
    /// This loop's multiplexed HTTP/2 connections (instances registered `protocol: h2c`).
    let http2Pool: HTTP2UpstreamPool
    let endpoints: EndpointTable
    let connector: UpstreamConnector
    /// This loop's metrics, if recorded.
    var metrics: LoopMetrics? = nil
    /// This loop's trace ids, when trace context is propagated.
    var traceIDs: TraceIDs? = nil
}

/// L7 forwarding of one downstream HTTP/1.x connection: each request head is parsed strictly, routed
/// (Host → service → instance, else the original destination), sent on a pooled keep-alive upstream
/// connection with framing Mesher writes itself, and its response streamed back. Where the connection is in
/// its life (between requests, in a body, awaiting a response, closing) is `HTTPForwardStateMachine`'s.
///
/// Pipelined requests wait unparsed until the response before them is done (reading stops meanwhile); a
/// malformed request gets a 400 and the connection closes, since nothing after it can be trusted.
final class HTTPForwardHandler: ChannelDuplexHandler, RemovableChannelHandler, NIOScheduledCallbackHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Two Meshers per call (consumer and provider side), a few calls deep: far more is a loop.
    static let maxHops = 16

    let connection: DownstreamConnection
    let accepted: Accepted
    let forward: HTTPForwardContext
    var settings: ProxySettings { forward.environment.settings }
    var logger: Logger { forward.environment.logger }
    var pool: UpstreamPool { forward.pool }
    var context: ChannelHandlerContext?
    var machine = HTTPForwardStateMachine()
    var exchange: HTTPExchange?
    /// Bytes from the client not parsed yet.
    var input: ByteBuffer?
    var pendingRead = false
    /// The body of the current request, while it arrives.
    private var bodyDecoder: HTTP1BodyDecoder?
    private var parser: HTTP1HeadParser
    private var headTimer: NIOScheduledCallback?
    /// When the last response that kept the connection ended: a drain gives such a connection a grace.
    private var lastAnswered: NIODeadline?
    private var graceTimer: Scheduled<Void>?
    /// The connection's one timer for the requests' `requestTimeout`: armed for the earliest deadline and, when
    /// it fires, it answers the current request if its deadline passed, else waits for that deadline. A
    /// keep-alive connection's requests schedule nothing of their own (a timer per request cost 5 % of a
    /// routed request).
    var requestTimer: NIOScheduledCallback?
    var requestTimerDue = NIODeadline.distantFuture

    init(connection: DownstreamConnection, accepted: Accepted, forward: HTTPForwardContext) {
        self.connection = connection
        self.accepted = accepted
        self.forward = forward
        self.parser = HTTP1HeadParser(role: .request, limits: forward.environment.settings.httpLimits)
    }

    /// The client half-closed and every byte it sent is read: nothing more to answer after this.
    var clientIsDone: Bool { machine.clientIsDone(inputPending: input != nil) }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        exchange?.cancelTimers()
        headTimer?.cancel()
        graceTimer?.cancel()
        requestTimer?.cancel()
        self.context = nil
    }

    // MARK: - Bytes from the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        connection.record.activity &+= 1
        connection.record.bytesUp += bytes.readableBytes
        guard machine.acceptsInput else { return }
        input.setOrWriteBuffer(&bytes)
        process()
    }

    /// Parses what it can: request heads, then bodies, until a request is complete or bytes run out.
    func process() {
        while context != nil {
            switch machine.state {
            case .idle:
                guard var buffer = input else {
                    if machine.clientInput == .closed { closeConnection() }
                    return
                }
                let outcome = parser.parse(&buffer)
                input = buffer.readableBytes > 0 ? buffer : nil
                switch outcome {
                case .needMore:
                    if machine.clientInput == .closed { return closeConnection() }
                    return armHeadTimer()
                case .invalid(let error):
                    return refuse(.badRequest(error))
                case .head(let head):
                    cancelHeadTimer()
                    machine.requestHead()
                    bodyDecoder = HTTP1BodyDecoder(framing: head.requestFraming, limits: settings.httpLimits)
                    begin(head)
                }
            case .requestBody:
                guard var decoder = bodyDecoder else { return }
                var buffer = input ?? ByteBuffer()
                let event = decoder.next(&buffer)
                input = buffer.readableBytes > 0 ? buffer : nil
                bodyDecoder = decoder
                switch event {
                case .needMore:
                    if machine.clientInput == .closed { return refuse(.badRequest(.invalidChunk)) }
                    return
                case .data(let data):
                    requestBody(data)
                case .end(let trailers):
                    bodyDecoder = nil
                    machine.requestEnd()
                    requestEnd(trailers)
                case .invalid(let error):
                    bodyDecoder = nil
                    machine.refuse()
                    return requestBodyFailed(error)
                }
            case .awaitingResponse, .closing, .tunnel:
                return
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstream?.flush()
        context.fireChannelReadComplete()
    }

    /// Backpressure: a request body is read only while the upstream takes it (or while it is dropped); a
    /// pipelined request waits for the response before it; nothing is read once the connection is closing.
    func read(context: ChannelHandlerContext) {
        let bodyWanted = exchange.map { $0.answer != nil || ($0.upstream?.isWritable ?? false) } ?? true
        if machine.shouldRead(inputPending: input != nil, bodyWanted: bodyWanted) {
            context.read()
        } else {
            pendingRead = true
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
            if machine.endOfInput() == .parseNext { process() }
        } else if event is ChannelShouldQuiesceEvent {
            connection.quiesce()
            let now = context.eventLoop.now
            let recentlyAnswered = lastAnswered.map { now < $0 + settings.drainGrace } ?? false
            switch machine.quiesce(inputPending: input != nil, recentlyAnswered: recentlyAnswered) {
            case .closeDrained: connection.closeDrained()
            case .awaitLastRequest: awaitLastRequest(until: (lastAnswered ?? now) + settings.drainGrace)
            case .none, .parseNext, .close: break
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client left mid-exchange: that upstream connection is in an unknown state, never reuse it.
        exchange?.upstream?.abandon()
        let lease = exchange?.route.lease
        exchange = nil
        if let lease { pool.dropUnwanted(lease.connections) }
        machine.closed()
        connection.sideClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The client reset the connection or similar: nothing to answer.
        logger.debug("downstream error", metadata: ["error": "\(error)"])
        connection.record.fail(.reset)
        context.close(promise: nil)
    }

    // MARK: - Head timeout

    /// Part of a head is here: the rest must come within `http.headerTimeout` (slowloris).
    private func armHeadTimer() {
        guard headTimer == nil, let context else { return }
        headTimer = try? context.eventLoop.assumeIsolated().scheduleCallback(in: settings.headerTimeout, handler: self)
    }

    func cancelHeadTimer() {
        headTimer?.cancel()
        headTimer = nil
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        headTimer = nil
        guard machine.headTimedOut() else { return }
        refuse(.headerTimeout)
    }

    // MARK: - Writing to the client

    func write(_ buffer: ByteBuffer) {
        connection.record.bytesDown += buffer.readableBytes
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// Closes once everything written so far has gone out.
    func closeConnection() {
        machine.refuse()
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// After a response: the next request (already here, or to come), or the end of the connection (a drain
    /// marks it as its own).
    func endResponse(close: Bool) {
        let draining = machine.drain == .quiescing
        switch machine.responseEnd(close: close) {
        case .parseNext:
            lastAnswered = context?.eventLoop.now
            context?.flush()
            process()
            readIfPending()
        case .awaitLastRequest:
            context?.flush()
            awaitLastRequest(until: (context?.eventLoop.now ?? .now()) + settings.drainGrace)
            process()
            readIfPending()
        case .close, .closeDrained:
            if draining { connection.record.fail(.drained) }
            closeConnection()
        case .none:
            break
        }
    }

    /// Draining: the client's next request may be on its way; it gets until `deadline` to begin.
    private func awaitLastRequest(until deadline: NIODeadline) {
        guard graceTimer == nil, let context else { return }
        graceTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            graceTimer = nil
            if machine.graceEnded(inputPending: input != nil) == .closeDrained { connection.closeDrained() }
        }
    }
}
