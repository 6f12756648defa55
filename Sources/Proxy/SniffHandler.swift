import NIOCore
import Sniff

/// First handler of every captured connection: finds the original destination, sniffs the protocol from
/// the client's first bytes (without consuming them), then hands the connection to the relay.
///
/// Server-first protocols need no configuration: a client that stays silent for the sniff window is
/// relayed as TCP, and well-known server-first ports are not sniffed at all. A client that speaks at
/// once is decided on its first bytes, so the window adds no latency to it.
final class SniffHandler: ChannelInboundHandler, RemovableChannelHandler, NIOScheduledCallbackHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Beyond a full TLS record (the largest thing worth waiting for) the answer is "opaque".
    static let maxSniffBytes = 16384 + 2048 + 5

    private enum State {
        case resolving, sniffing
        /// Sniffed, and the session is being refused: still this handler's to end.
        case refusing
        /// Handed to the relay or the HTTP handlers, which end the session.
        case done
    }

    private let session: RelaySession
    private var state = State.resolving
    private var context: ChannelHandlerContext?
    private var buffered: ByteBuffer?
    private var inputClosed = false
    private var window: NIOScheduledCallback?

    init(session: RelaySession) {
        self.session = session
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
        session.resolveDestination { destination in
            guard self.state == .resolving else { return }
            if let port = destination.port, self.session.environment.settings.opaquePorts.contains(UInt16(port)) {
                return self.handOff(.opaque)
            }
            self.state = .sniffing
            self.window = try? context.eventLoop.assumeIsolated().scheduleCallback(
                in: self.session.environment.settings.sniffWindow, handler: self)
            self.evaluate()
        }
    }

    /// Closed before the hand-off (refused, or the client left): the relay never saw it, so end it here.
    func channelInactive(context: ChannelHandlerContext) {
        if state != .done {
            state = .done
            session.sideClosed()
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffered.setOrWriteBuffer(&bytes)
        if state == .sniffing { evaluate() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .some(.inputClosed) = event as? ChannelEvent else {
            return context.fireUserInboundEventTriggered(event)
        }
        // The client said all it will say: decide on what is here.
        inputClosed = true
        if state == .sniffing { handOff(decision(final: true)) }
    }

    /// The window ended with the client silent or mid-way: relay as TCP.
    func handleScheduledCallback(eventLoop: some EventLoop) {
        window = nil
        if state == .sniffing { handOff(decision(final: true)) }
    }

    private func evaluate() {
        guard buffered != nil else { return }
        let result = decision(final: false)
        if result != .needMore { handOff(result) }
    }

    private func decision(final: Bool) -> SniffResult {
        guard let buffered else { return .opaque }
        let result = ProtocolSniffer.classify(buffered)
        if result == .needMore && (final || buffered.readableBytes >= Self.maxSniffBytes) { return .opaque }
        return result
    }

    private func handOff(_ result: SniffResult) {
        guard let context, let destination = session.destination else { return }
        state = .refusing  // until another handler has taken the connection over
        window?.cancel()
        session.sniffed = result
        let pipeline = context.pipeline.syncOperations
        if result == .http {
            do {
                try HTTPPipeline.install(pipeline, position: .after(self), session: session)
            } catch {
                return context.close(promise: nil)
            }
            session.startIdleTimer()
            return forwardBufferedAndLeave(context)
        }
        // Not HTTP: a byte relay, to a service instance when the app dialled a service's virtual IP.
        let route = UpstreamRoute.resolve(host: nil, destination: destination, session: session)
        guard route.address != nil else { return session.refuse(.noInstance) }
        let relay = RelayHandler(side: .downstream, session: session)
        do {
            try pipeline.addHandler(relay, position: .after(self))
        } catch {
            return context.close(promise: nil)
        }
        forwardBufferedAndLeave(context)
        session.connect(to: route, relay)
    }

    /// Hands the sniffed bytes (and an end of input) to the handler that now follows, then leaves.
    private func forwardBufferedAndLeave(_ context: ChannelHandlerContext) {
        state = .done
        if let buffered {
            self.buffered = nil
            context.fireChannelRead(wrapInboundOut(buffered))
        }
        if inputClosed { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
