import NIOCore

/// Answers the datagrams of a UDP listener, each reply going back to the datagram's sender.
final class DNSUDPQueryHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let processor: DNSQueryProcessor

    init(processor: DNSQueryProcessor) {
        self.processor = processor
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let query = unwrapInboundIn(data)
        guard let reply = processor.reply(to: query.data, over: .udp, on: context.eventLoop) else { return }
        let channel = context.channel
        reply.whenSuccess { message in
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: query.remoteAddress, data: message), promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // One client's failed datagram must not close the listener for everyone else.
        processor.logger.debug("DNS UDP listener error", metadata: ["error": "\(error)"])
    }
}
