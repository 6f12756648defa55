import NIOCore
import NIOExtras

/// Answers the messages of one TCP client connection. Queries are handled concurrently and answered
/// in completion order (RFC 7766 section 6.2.1.1); the client matches them by id.
final class DNSTCPQueryHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let processor: DNSQueryProcessor
    private var pendingReplies = 0
    private var inputClosed = false

    init(processor: DNSQueryProcessor) {
        self.processor = processor
    }

    /// The handlers of a client connection.
    static func addHandlers(
        to pipeline: ChannelPipeline.SynchronousOperations, processor: DNSQueryProcessor, idleTimeout: TimeAmount
    ) throws {
        try pipeline.addHandlers(
            IdleStateHandler(readTimeout: idleTimeout), DNSTCPFraming.decoder(), DNSTCPFraming.prepender(),
            DNSTCPQueryHandler(processor: processor))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The rest of a read that ended in a malformed message is not worth an answer or a forward.
        guard context.channel.isActive else { return }
        guard let reply = processor.reply(to: unwrapInboundIn(data), over: .tcp, on: context.eventLoop) else {
            // The stream cannot be trusted to be in sync after a message that does not parse.
            context.close(promise: nil)
            return
        }
        pendingReplies += 1
        let channel = context.channel
        reply.flatMap { channel.writeAndFlush($0) }.assumeIsolated().whenComplete { _ in
            // Counted down once written: closing earlier would drop a reply still queued on the socket.
            self.pendingReplies -= 1
            self.closeIfDone(channel)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Silent for the idle timeout with nothing in flight: the connection is not worth its descriptor.
        if case .some(.read) = event as? IdleStateHandler.IdleStateEvent, pendingReplies == 0 {
            return context.close(promise: nil)
        }
        // A client may half-close after its last query; it still gets the replies in flight.
        if case .some(.inputClosed) = event as? ChannelEvent {
            inputClosed = true
            closeIfDone(context.channel)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A partial message when the client stops sending: nobody is left to answer it, but the replies in
        // flight are still owed (the input-closed event that follows closes the connection after them).
        if error is NIOExtrasErrors.LeftOverBytesError { return }
        processor.logger.debug("DNS TCP connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func closeIfDone(_ channel: any Channel) {
        if inputClosed && pendingReplies == 0 { channel.close(promise: nil) }
    }
}
