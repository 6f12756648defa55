import HTTP1
import NIOCore

/// Why an upstream connection ended an exchange early.
enum UpstreamFailure: Error {
    /// Closed or reset; `afterResponseBytes` when part of a response had arrived.
    case reset(afterResponseBytes: Bool)
    /// The response could not be parsed, or was not an answer to the request.
    case protocolError(HTTP1ParseError?)
}

/// Whoever currently sends a request on an upstream connection and wants its response.
protocol UpstreamResponseReceiver: AnyObject {
    /// A 1xx response other than 101 (100 Continue, 103 Early Hints): more heads follow.
    func upstreamInterim(_ head: HTTP1Head)
    func upstreamResponseHead(_ head: HTTP1Head, framing: HTTP1Head.Framing)
    func upstreamResponseBody(_ data: ByteBuffer)
    /// `reusable`: the response ended exactly at its framing, nothing else arrived, and the upstream keeps
    /// the connection open.
    func upstreamResponseEnd(trailers: ByteBuffer?, reusable: Bool)
    /// A 101, or a 2xx to CONNECT: the connection now carries another protocol, starting with `leftover`.
    func upstreamSwitched(_ head: HTTP1Head, leftover: ByteBuffer?)
    func upstreamReadComplete()
    func upstreamWritable()
    func upstreamFailed(_ failure: UpstreamFailure)
}

/// The last handler of a pooled upstream HTTP/1.1 connection: writes one request at a time, parses the
/// response strictly, and hands it to the current receiver. Bytes that answer no request (before one is
/// sent, after a response ended, while idle in the pool) mean the connection is out of step: it is closed,
/// never reused.
final class UpstreamHTTPHandler: ChannelDuplexHandler, RemovableChannelHandler, NIOScheduledCallbackHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What the response must be read against.
    struct RequestKind {
        var isHEAD = false
        var isCONNECT = false
    }

    private enum State {
        case idle
        case awaitingHead(RequestKind)
        case body(HTTP1BodyDecoder, keepAlive: Bool)
        /// Handed to the byte relay (101 or CONNECT).
        case switched
    }

    let address: SocketAddress
    weak var receiver: (any UpstreamResponseReceiver)?
    weak var pool: UpstreamPool?
    /// The service breaker this connection counts against, if it goes to a service's instance.
    var limit: UpstreamPool.Limit?
    private(set) var context: ChannelHandlerContext?
    private var state = State.idle
    private var parser: HTTP1HeadParser
    private var input: ByteBuffer?
    private var responseBytes = false
    private var readsPaused = false
    private var pendingRead = false

    init(address: SocketAddress, pool: UpstreamPool, limits: HTTP1HeadParser.Limits) {
        self.address = address
        self.pool = pool
        self.parser = HTTP1HeadParser(role: .response, limits: limits)
    }

    var isActive: Bool { context?.channel.isActive ?? false }
    var isWritable: Bool { context?.channel.isWritable ?? false }
    var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    // MARK: - Requests

    func sendHead(_ head: ByteBuffer, kind: RequestKind) {
        state = .awaitingHead(kind)
        responseBytes = false
        context?.write(wrapOutboundOut(head), promise: nil)
    }

    func sendBody(_ data: ByteBuffer, chunked: Bool) {
        guard let context, data.readableBytes > 0 else { return }
        if chunked {
            context.write(
                wrapOutboundOut(HTTP1Chunk.header(size: data.readableBytes, allocator: allocator)), promise: nil)
            context.write(wrapOutboundOut(data), promise: nil)
            context.write(wrapOutboundOut(HTTP1Chunk.dataEnd), promise: nil)
        } else {
            context.write(wrapOutboundOut(data), promise: nil)
        }
    }

    func sendEnd(trailers: ByteBuffer?, chunked: Bool) {
        if chunked { context?.write(wrapOutboundOut(HTTP1Chunk.last(trailers: trailers)), promise: nil) }
    }

    func flush() { context?.flush() }

    /// Closes a connection whose state is unknown (its exchange ended midway), telling nobody.
    func abandon() {
        receiver = nil
        context?.close(promise: nil)
    }

    // MARK: - Responses

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        responseBytes = true
        input.setOrWriteBuffer(&bytes)
        process()
    }

    private func process() {
        while context != nil {
            switch state {
            case .switched:
                return
            case .idle:
                // Nobody asked for these bytes.
                guard input == nil else { return fail(.protocolError(nil)) }
                return
            case .awaitingHead(let kind):
                guard var buffer = input else { return }
                let outcome = parser.parse(&buffer)
                input = buffer.readableBytes > 0 ? buffer : nil
                switch outcome {
                case .needMore: return
                case .invalid(let error): return fail(.protocolError(error))
                case .head(let head): responseHead(head, kind: kind)
                }
            case .body(var decoder, let keepAlive):
                var buffer = input ?? ByteBuffer()
                let event = decoder.next(&buffer)
                input = buffer.readableBytes > 0 ? buffer : nil
                switch event {
                case .needMore:
                    state = .body(decoder, keepAlive: keepAlive)
                    return
                case .data(let data):
                    state = .body(decoder, keepAlive: keepAlive)
                    receiver?.upstreamResponseBody(data)
                case .end(let trailers):
                    state = .idle
                    // The receiver may put this connection back in the pool, and a request may go out on it
                    // before this returns: the loop goes on with whatever state that leaves.
                    receiver?.upstreamResponseEnd(trailers: trailers, reusable: keepAlive && input == nil)
                case .invalid(let error):
                    return fail(.protocolError(error))
                }
            }
        }
    }

    private func responseHead(_ head: HTTP1Head, kind: RequestKind) {
        let status = head.status
        if status == 101 || (kind.isCONNECT && (200..<300).contains(status)) {
            state = .switched
            let leftover = input
            input = nil
            receiver?.upstreamSwitched(head, leftover: leftover)
        } else if status < 200 {
            receiver?.upstreamInterim(head)
        } else {
            let framing = head.responseFraming(toHEAD: kind.isHEAD, toCONNECT: kind.isCONNECT)
            let decoder = HTTP1BodyDecoder(framing: framing, limits: parser.limits)
            state = .body(decoder, keepAlive: head.keepAlive && framing != .untilClose)
            receiver?.upstreamResponseHead(head, framing: framing)
        }
    }

    private func fail(_ failure: UpstreamFailure) {
        input = nil
        state = .idle
        let receiver = self.receiver
        self.receiver = nil
        context?.close(promise: nil)
        receiver?.upstreamFailed(failure)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        receiver?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { receiver?.upstreamWritable() }
        context.fireChannelWritabilityChanged()
    }

    /// The upstream closed its side: the end of a read-until-close body, else the end of the connection.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            if case .body(var decoder, _) = state, case .end(let trailers) = decoder.endOfInput() {
                state = .idle
                receiver?.upstreamResponseEnd(trailers: trailers, reusable: false)
            }
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        pool?.forget(self)
        let receiver = self.receiver
        self.receiver = nil
        if case .switched = state {} else { receiver?.upstreamFailed(.reset(afterResponseBytes: responseBytes)) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let receiver = self.receiver
        self.receiver = nil
        context.close(promise: nil)
        receiver?.upstreamFailed(.reset(afterResponseBytes: responseBytes))
    }

    // MARK: - Backpressure from the downstream side

    func pauseReading() { readsPaused = true }

    func resumeReading() {
        readsPaused = false
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused {
            pendingRead = true
        } else {
            context.read()
        }
    }

    // MARK: - Idle in the pool

    /// When the connection last went back to the pool. The timer is not moved on every request: when it
    /// fires it closes the connection only if that was a whole timeout ago, else it waits the rest.
    private var idleTimer: NIOScheduledCallback?
    private var idleSince = NIODeadline.distantFuture
    private var idleTimeout = TimeAmount.zero

    /// Clean and idle: what the pool takes back.
    var isReusable: Bool {
        guard case .idle = state, input == nil else { return false }
        return isActive
    }

    func markIdle(timeout: TimeAmount) {
        guard let context else { return }
        idleSince = context.eventLoop.now
        idleTimeout = timeout
        guard idleTimer == nil else { return }
        idleTimer = try? context.eventLoop.assumeIsolated().scheduleCallback(in: timeout, handler: self)
    }

    func markInUse() {
        idleSince = .distantFuture
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        idleTimer = nil
        guard receiver == nil, idleSince != .distantFuture else { return }
        let due = idleSince + idleTimeout
        if due <= eventLoop.now { return abandon() }
        idleTimer = try? eventLoop.assumeIsolated().scheduleCallback(at: due, handler: self)
    }

    /// Hands the connection to the byte relay after a 101 or CONNECT: this handler leaves the pipeline.
    func switchToRelay(_ relay: RelayHandler) throws {
        guard let context else { throw ChannelError.ioOnClosedChannel }
        idleTimer?.cancel()
        receiver = nil
        try context.pipeline.syncOperations.addHandler(relay, position: .after(self))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
