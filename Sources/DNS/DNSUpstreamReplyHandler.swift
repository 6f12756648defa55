import NIOCore

/// What an upstream channel reads: a datagram (UDP) or a deframed message (TCP).
protocol DNSUpstreamMessage {
    var dnsMessage: ByteBuffer { get }
}

extension ByteBuffer: DNSUpstreamMessage {
    var dnsMessage: ByteBuffer { self }
}

extension AddressedEnvelope<ByteBuffer>: DNSUpstreamMessage {
    var dnsMessage: ByteBuffer { data }
}

/// Completes `reply` with the first upstream message carrying the query's id, or fails it when the
/// channel errors or closes first. A promise completes only once, so whichever outcome comes first wins
/// (the forwarder's timeout included).
final class DNSUpstreamReplyHandler<Message: DNSUpstreamMessage>: ChannelInboundHandler {
    typealias InboundIn = Message

    private let expectedID: UInt16
    private let reply: EventLoopPromise<ByteBuffer>

    init(expectedID: UInt16, reply: EventLoopPromise<ByteBuffer>) {
        self.expectedID = expectedID
        self.reply = reply
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data).dnsMessage
        // Anything else is stale or spoofed; a missing answer is the timeout's business.
        guard message.getInteger(at: message.readerIndex, as: UInt16.self) == expectedID else { return }
        reply.succeed(message)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        reply.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        reply.fail(DNSForwardingError.connectionClosed)
        context.fireChannelInactive()
    }
}
