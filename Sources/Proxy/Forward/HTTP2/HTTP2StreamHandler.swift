import HTTP1
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2

/// L7 forwarding of one client HTTP/2 stream: its request is read through Mesher's HTTP/1 parser, routed
/// like an HTTP/1 request (rules, subsets, balancer, retries, timeouts, ejection), sent as a stream on a
/// multiplexed upstream connection, and its response (trailers too) streamed back. Each direction reads only
/// while the other side takes what it reads: flow control end to end, per stream.
final class HTTP2StreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    /// Where a stream is in its life: what the next frame from the client means, and whether its response
    /// has begun or ended. Pure: `HTTP2StreamHandler` carries out what it says.
    struct Machine: Equatable {
        enum Request: Equatable {
            case awaitingHeaders
            case body
            case ended
        }
        enum Response: Equatable {
            case pending
            case started
            case ended
        }

        private(set) var request = Request.awaitingHeaders
        private(set) var response = Response.pending

        enum Inbound: Equatable {
            /// Headers of a new request.
            case begin
            case body
            case trailers
            /// A frame the stream cannot have now: ignored (nio-http2 has already checked the stream's states).
            case ignore
        }

        /// What a frame from the client is.
        mutating func received(headers: Bool, endStream: Bool) -> Inbound {
            let kind: Inbound
            switch (request, headers) {
            case (.awaitingHeaders, true): kind = .begin
            case (.body, true): kind = endStream ? .trailers : .ignore
            case (.body, false): kind = .body
            case (.awaitingHeaders, false), (.ended, _): return .ignore
            }
            request = endStream ? .ended : .body
            return kind
        }

        mutating func responseStarted() { response = .started }

        mutating func responseEnded() { response = .ended }

        /// Whether to read from the client: its headers, or a body the upstream takes (or that is dropped,
        /// once the response ended).
        func shouldRead(bodyWanted: Bool) -> Bool {
            switch request {
            case .awaitingHeaders: true
            case .body: bodyWanted || response == .ended
            case .ended: false
            }
        }
    }

    let connection: DownstreamConnection
    let accepted: Accepted
    let forward: HTTPForwardContext
    let pool: HTTP2UpstreamPool
    var logger: Logger { forward.environment.logger }
    var context: ChannelHandlerContext?
    var machine = Machine()
    var call: HTTP2Call?
    /// The request's plan, until the connection's read is done (`HTTP2ReadBatch`).
    var held: RoutePlan?
    /// Response bytes written to the client and not yet on their way (its window is closed).
    var buffered = StreamBuffer()
    let batch: HTTP2ReadBatch
    private var pendingRead = false

    init(
        connection: DownstreamConnection, accepted: Accepted, forward: HTTPForwardContext, pool: HTTP2UpstreamPool,
        batch: HTTP2ReadBatch
    ) {
        self.connection = connection
        self.accepted = accepted
        self.forward = forward
        self.pool = pool
        self.batch = batch
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        call?.cancelTimers()
        buffered.stopWaiting()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.record.activity &+= 1
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            switch machine.received(headers: true, endStream: headers.endStream) {
            case .begin:
                begin(headers.headers, endStream: headers.endStream)
                if headers.endStream { requestPart(.end) }
            case .trailers: requestPart(.trailers(headers.headers))
            case .body, .ignore: break
            }
        case .data(let data):
            guard machine.received(headers: false, endStream: data.endStream) == .body,
                case .byteBuffer(let buffer) = data.data
            else { return }
            if buffer.readableBytes > 0 { requestPart(.data(buffer)) }
            if data.endStream { requestPart(.end) }
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        call?.upstream?.flush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        let bodyWanted = call.map { $0.upstream?.isWritable ?? false } ?? true
        if machine.shouldRead(bodyWanted: bodyWanted) {
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
        if context.channel.isWritable { resumeUpstreamIfAllowed() }
        context.fireChannelWritabilityChanged()
    }

    /// The stream closed: after its response, or reset by the client (then the upstream stream is reset too).
    func channelInactive(context: ChannelHandlerContext) {
        if let call, machine.response != .ended {
            call.cancelTimers()
            call.upstream?.cancel()
            call.upstream = nil
            logCall(call, status: call.responseStatus ?? 0, error: "client-reset")
        }
        call = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The client reset a stream under way (Mesher clears `call` before it resets one itself).
        if error is NIOHTTP2Errors.StreamClosed, call != nil || held != nil { clientReset(context) }
        logger.debug("HTTP/2 stream error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    /// Counts the reset against the client's address, all its connections together: over the budget, this
    /// connection ends with GOAWAY (ENHANCE_YOUR_CALM), as nio-http2 ends one over its own count.
    private func clientReset(_ context: ChannelHandlerContext) {
        guard let address = connection.channel.remoteAddress?.ipBytes, let parent = context.channel.parent,
            forward.environment.resets.reset(by: address, now: NIODeadline.now().uptimeNanoseconds)
        else { return }
        connection.warnings.log(
            .resets, "HTTP/2 client over its stream reset budget: connection closed",
            metadata: ["src": "\(connection.channel.remoteAddress?.logText ?? "-")"], to: logger)
        let lastStream =
            (try? context.channel.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID)) ?? .rootStream
        let goAway = HTTP2Frame(
            streamID: .rootStream,
            payload: .goAway(lastStreamID: lastStream, errorCode: .enhanceYourCalm, opaqueData: nil))
        parent.writeAndFlush(goAway).assumeIsolated().whenComplete { _ in parent.close(promise: nil) }
    }

    func write(_ payload: HTTP2Frame.FramePayload) {
        guard let context else { return }
        guard case .data(let data) = payload, data.data.readableBytes > 0 else {
            return context.write(wrapOutboundOut(payload), promise: nil)
        }
        let bytes = data.data.readableBytes
        call?.responseBytes += bytes
        buffered.take(bytes, from: forward.environment.slowReaders)
        // nio-http2 completes a stream's writes when the frame leaves for the connection (the client's window
        // let it): what the stream holds until then counts against the budget of every connection.
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenComplete { [self] _ in
            buffered.giveBack(bytes, to: forward.environment.slowReaders)
            resumeUpstreamIfAllowed()
        }
        context.write(wrapOutboundOut(payload), promise: written)
    }
}
