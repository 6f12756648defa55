import NIOCore

/// DNS over TCP prefixes every message with its 2-byte length (RFC 1035 section 4.2.2).
enum DNSTCPFraming {
    static func frame(_ message: ByteBuffer) -> ByteBuffer {
        var framed = ByteBuffer()
        framed.reserveCapacity(2 + message.readableBytes)
        framed.writeInteger(UInt16(clamping: message.readableBytes))
        framed.writeImmutableBuffer(message)
        return framed
    }
}

/// Splits a TCP byte stream into DNS messages.
struct DNSTCPFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let message = buffer.readLengthPrefixedSlice(as: UInt16.self) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        // A partial message at end of input is dropped: there is nobody left to answer.
        try decode(context: context, buffer: &buffer)
    }
}
