import NIOCore

/// One side of a TCP relay: what it reads it writes to its partner on the other side.
///
/// Backpressure: a side reads only while its partner's channel is writable, so at most the
/// partner's write-buffer high-water mark (plus one read) is queued per direction.
/// Half-close: end of input on one side shuts the partner's output, but only once the writes
/// already queued to the partner have completed (NIO drops queued writes on close).
final class RelayHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Side { case downstream, upstream }

    let side: Side
    let connection: DownstreamConnection
    private var context: ChannelHandlerContext?
    private var partner: RelayHandler?
    private var pendingRead = false
    private var inputClosed = false
    /// Bytes that arrived before the partner existed (the sniffed prefix, or one read in flight).
    private var unpaired: ByteBuffer?

    /// `pending`: bytes already read (and counted) by whoever had the connection before, sent first.
    init(side: Side, connection: DownstreamConnection, pending: ByteBuffer? = nil) {
        self.side = side
        self.connection = connection
        self.unpaired = pending
    }

    /// Bytes to send first once paired (set before the relay takes over).
    var pending: ByteBuffer? {
        get { unpaired }
        set { unpaired = newValue }
    }

    /// Pairs the two sides once the upstream is connected and starts reading both.
    static func pair(_ downstream: RelayHandler, _ upstream: RelayHandler) {
        downstream.partner = upstream
        upstream.partner = downstream
        if let early = downstream.unpaired {
            downstream.unpaired = nil
            upstream.write(early)
            upstream.context?.flush()
        }
        if downstream.inputClosed { upstream.shutdownOutputAfterPendingWrites() }
        // Whoever had the channel before (sniffer, HTTP codec) may have held back a read: start afresh.
        downstream.startReading()
        upstream.startReading()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let record = connection.record
        record.activity &+= 1
        switch side {
        case .downstream: record.bytesUp += buffer.readableBytes
        case .upstream: record.bytesDown += buffer.readableBytes
        }
        if let check = connection.serverFirstCheck {
            connection.serverFirstCheck = nil
            check.firstBytes(fromServer: side == .upstream)
        }
        if let partner {
            partner.write(buffer)
        } else {
            var buffer = buffer
            unpaired.setOrWriteBuffer(&buffer)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let partner, partner.isWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            inputClosed = true
            partner?.shutdownOutputAfterPendingWrites()
        } else if event is ChannelShouldQuiesceEvent {
            // A byte relay has no boundary to stop at: it goes on until it ends, or the drain's deadline.
            return connection.quiesce()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.closeAfterPendingWrites()
        connection.sideClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset on one side is passed on as a reset, so neither peer mistakes it for a clean end.
        connection.record.fail(.reset)
        context.close(promise: nil)
        partner?.reset()
    }

    // MARK: - Called by the partner

    private var isWritable: Bool { context?.channel.isWritable ?? false }

    private func write(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func startReading() {
        pendingRead = false
        context?.read()
    }

    private func partnerBecameWritable() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    private func shutdownOutputAfterPendingWrites() {
        afterPendingWrites { $0.close(mode: .output, promise: nil) }
    }

    private func closeAfterPendingWrites() {
        afterPendingWrites { $0.close(promise: nil) }
    }

    /// An empty write completes after every write queued before it.
    private func afterPendingWrites(_ action: @escaping (ChannelHandlerContext) -> Void) {
        guard let context, context.channel.isActive else { return }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: promise)
        promise.futureResult.assumeIsolated().whenComplete { _ in action(context) }
    }

    func reset() {
        guard let context, context.channel.isActive else { return }
        resetConnection(context.channel)
    }
}
