import NIOCore
import NIOExtras

/// DNS over TCP prefixes every message with its 2-byte length (RFC 1035 section 4.2.2), so no message is over
/// 64 KiB. The same framing for clients' connections and for the ones to upstream resolvers.
enum DNSTCPFraming {
    /// Splits the byte stream into messages; a partial one when the input ends is reported as
    /// `NIOExtrasErrors.LeftOverBytesError`.
    static func decoder() -> ByteToMessageHandler<LengthFieldBasedFrameDecoder> {
        ByteToMessageHandler(LengthFieldBasedFrameDecoder(lengthFieldLength: .two))
    }

    /// Prefixes every message written with its length (failing the write of one over 64 KiB).
    static func prepender() -> LengthFieldPrepender {
        LengthFieldPrepender(lengthFieldLength: .two)
    }
}
