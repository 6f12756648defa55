import NIOCore
import NIOHTTP1

/// Whoever currently sends a request on an upstream connection and wants its response.
protocol UpstreamResponseReceiver: AnyObject {
    func upstreamResponse(_ part: HTTPClientResponsePart)
    func upstreamReadComplete()
    func upstreamWritable()
    /// The connection closed or failed; `error` is nil for a clean close.
    func upstreamClosed(error: (any Error)?)
}

/// The last handler of a pooled upstream HTTP connection: hands response parts to the current receiver,
/// reads only while the receiver can take more, and closes itself when it sits idle in the pool too long.
final class UpstreamHTTPHandler: ChannelDuplexHandler, NIOScheduledCallbackHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    let address: SocketAddress
    weak var receiver: (any UpstreamResponseReceiver)?
    weak var pool: UpstreamPool?
    private(set) var context: ChannelHandlerContext?
    private var readsPaused = false
    private var pendingRead = false
    private var idleTimer: NIOScheduledCallback?

    init(address: SocketAddress, pool: UpstreamPool) {
        self.address = address
        self.pool = pool
    }

    var isActive: Bool { context?.channel.isActive ?? false }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func send(_ part: HTTPClientRequestPart) {
        context?.write(wrapOutboundOut(part), promise: nil)
    }

    func flush() { context?.flush() }

    func close() { context?.close(promise: nil) }

    /// Closes a connection whose state is unknown (its exchange ended midway), telling nobody.
    func abandon() {
        receiver = nil
        close()
    }

    /// Backpressure from the downstream side: stop reading responses while it cannot take them.
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

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let receiver else {
            // A response nobody asked for: the connection is out of step, never reuse it.
            return context.close(promise: nil)
        }
        receiver.upstreamResponse(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        receiver?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { receiver?.upstreamWritable() }
        context.fireChannelWritabilityChanged()
    }

    /// An upstream that half-closes is done with this connection (a read-until-close body has ended).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent { context.close(promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        pool?.forget(self)
        let receiver = self.receiver
        self.receiver = nil
        receiver?.upstreamClosed(error: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let receiver = self.receiver
        self.receiver = nil
        receiver?.upstreamClosed(error: error)
        context.close(promise: nil)
    }

    // MARK: - Idle in the pool

    /// When the connection last went back to the pool. The timer is not moved on every request: when it
    /// fires it closes the connection only if that was a whole timeout ago, else it waits the rest.
    private var idleSince = NIODeadline.distantFuture
    private var idleTimeout = TimeAmount.zero

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
        if due <= eventLoop.now { return close() }
        idleTimer = try? eventLoop.assumeIsolated().scheduleCallback(at: due, handler: self)
    }
}
