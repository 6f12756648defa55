import NIOCore
import Sniff

/// First handler of every captured connection: runs the Accept stage's checks once the original destination
/// is known, sniffs the protocol from the client's first bytes (without consuming them) as
/// `SniffStateMachine` decides, then hands the connection to the next stage and leaves the pipeline.
final class DetectHandler: ChannelInboundHandler, RemovableChannelHandler, NIOScheduledCallbackHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum HandOffResult {
        /// The next stage's handlers follow this one; `start` runs once the sniffed bytes went to them.
        case installed(start: (() -> Void)?)
        case refused(ConnectionOutcome)
        case failed
    }

    /// Installs the next stage after `context`'s handler.
    typealias HandOff = (Detected, DownstreamConnection, ChannelHandlerContext) -> HandOffResult

    private let connection: DownstreamConnection
    private let policy: AcceptPolicy
    private let serverFirst: ServerFirstCache
    /// Tells every event loop's cache (this one's included) that a destination speaks first (`true`) or not.
    private let updateServerFirst: (SocketAddress, Bool) -> Void
    /// The original destination was known to speak first: not sniffed.
    private var knownServerFirst = false
    private let handOff: HandOff
    /// Whether HTTP/2 to an accepted connection's destination goes to L7 whatever its first request names.
    private let http2Known: (Accepted) -> Bool
    private var machine: SniffStateMachine
    private var context: ChannelHandlerContext?
    private var window: NIOScheduledCallback?

    init(
        connection: DownstreamConnection, policy: AcceptPolicy, serverFirst: ServerFirstCache,
        updateServerFirst: @escaping (SocketAddress, Bool) -> Void, http2Known: @escaping (Accepted) -> Bool,
        handOff: @escaping HandOff
    ) {
        self.http2Known = http2Known
        self.connection = connection
        self.policy = policy
        self.serverFirst = serverFirst
        self.updateServerFirst = updateServerFirst
        self.handOff = handOff
        self.machine = SniffStateMachine(opaquePorts: connection.environment.settings.opaquePorts)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        window?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        policy.accept(context.channel).assumeIsolated().whenSuccess { verdict in
            var known = false
            var http2Known = false
            switch verdict {
            case .accepted(let accepted):
                self.connection.labels.original = accepted.original
                known = accepted.original.map { self.serverFirst.contains($0, now: context.eventLoop.now) } ?? false
                http2Known = self.http2Known(accepted)
            case .refused(_, let original):
                self.connection.labels.original = original
            }
            self.knownServerFirst = known
            self.perform(self.machine.accepted(verdict, knownServerFirst: known, http2Known: http2Known))
        }
    }

    /// Closed before the hand-off (refused, or the client left): the next stage never saw it, so end it here.
    func channelInactive(context: ChannelHandlerContext) {
        if machine.closed() { connection.sideClosed() }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        perform(machine.read(unwrapInboundIn(data)))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            return perform(machine.endOfInput())
        }
        // A drain: detection finishes, and the next stage is told (see `leave`).
        if event is ChannelShouldQuiesceEvent { return connection.quiesce() }
        context.fireUserInboundEventTriggered(event)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        window = nil
        perform(machine.windowExpired())
    }

    private func perform(_ action: SniffStateMachine.Action) {
        guard let context else { return }
        switch action {
        case .wait:
            return
        case .startWindow:
            window = try? context.eventLoop.assumeIsolated().scheduleCallback(
                in: connection.environment.settings.sniffWindow, handler: self)
        case .refuse(let reason):
            connection.refuse(reason)
        case .handOff(let detected, let buffered, let inputClosed, let learned):
            window?.cancel()
            if learned || knownServerFirst, let original = detected.accepted.original {
                // Settled by the relay's first bytes: a slow client is not a server speaking first.
                connection.serverFirstCheck = ServerFirstCheck(
                    destination: original, guess: learned ? .silentClient : .known, update: updateServerFirst)
            }
            connection.detected(detected.protocolSeen.protocolName)
            connection.labels.serverName = detected.protocolSeen.serverName
            switch handOff(detected, connection, context) {
            case .installed(let start):
                leave(context, buffered: buffered, inputClosed: inputClosed)
                start?()
            case .refused(let reason):
                connection.refuse(reason)
            case .failed:
                context.close(promise: nil)
            }
        }
    }

    /// Hands the sniffed bytes (and an end of input) to the handler that now follows, then leaves.
    private func leave(_ context: ChannelHandlerContext, buffered: ByteBuffer?, inputClosed: Bool) {
        machine.handedOff()
        if let buffered {
            // The bytes are a read of their own for what follows, which may act on its read's end (HTTP/2
            // sends the requests it held back then), whether or not a read of the socket goes on.
            context.fireChannelRead(wrapInboundOut(buffered))
            context.fireChannelReadComplete()
        }
        if inputClosed { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        if connection.isDraining { context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
