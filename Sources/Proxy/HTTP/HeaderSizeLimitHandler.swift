import Logging
import NIOCore

/// Caps the size of a request head (request line and headers) before the HTTP decoder buffers it:
/// past the limit the client gets a 400 and the connection is closed.
///
/// It counts bytes up to the blank line that ends a head, then waits for `requestEnded()` before counting
/// the next one; a head pipelined behind a body in the same read is therefore not measured (llhttp's own
/// 80 KiB cap still applies to it).
final class HeaderSizeLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let limit: Int
    private let logger: Logger
    private var inHead = true
    private var headBytes = 0
    /// The last bytes seen, to find a "\r\n\r\n" split across reads.
    private var tail: UInt32 = 0
    private var rejected = false

    init(limit: Int, logger: Logger) {
        self.limit = limit
        self.logger = logger
    }

    func requestEnded() {
        inHead = true
        headBytes = 0
        tail = 0
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !rejected else { return }
        let buffer = unwrapInboundIn(data)
        if inHead {
            let scanned = buffer.withUnsafeReadableBytes { bytes -> Int in
                for (index, byte) in bytes.enumerated() {
                    tail = tail << 8 | UInt32(byte)
                    if tail == 0x0D0A_0D0A {
                        inHead = false
                        return index + 1
                    }
                }
                return bytes.count
            }
            headBytes += scanned
            if headBytes > limit {
                rejected = true
                logger.warning(
                    "request head too large",
                    metadata: [
                        "limit": "\(limit)", "src": "\(context.channel.remoteAddress.map(RelaySession.format) ?? "-")",
                    ])
                let reply =
                    "HTTP/1.1 400 Bad Request\r\nx-mesher-error: header-too-large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                context.writeAndFlush(NIOAny(ByteBuffer(string: reply))).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
                return
            }
        }
        context.fireChannelRead(data)
    }
}
