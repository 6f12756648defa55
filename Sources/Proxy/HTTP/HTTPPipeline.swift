import NIOCore
import NIOHTTP1

/// The downstream HTTP handlers, by name so that an upgrade can take them out again.
enum HTTPPipeline {
    static let decoder = "mesher-http-decoder"
    static let encoder = "mesher-http-encoder"
    static let pipelining = "mesher-http-pipelining"
    static let errors = "mesher-http-errors"
    static let forward = "mesher-http-forward"

    /// Adds the codec and the forwarder after `position`; bytes fired into it afterwards are parsed as HTTP.
    static func install(
        _ pipeline: ChannelPipeline.SynchronousOperations, position: ChannelPipeline.SynchronousOperations.Position,
        session: RelaySession
    ) throws {
        let handlers: [(String, any ChannelHandler)] = [
            (decoder, ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes))),
            (encoder, HTTPResponseEncoder()),
            (pipelining, HTTPServerPipelineHandler()),
            (errors, HTTPServerProtocolErrorHandler()),
            (forward, HTTPForwardHandler(session: session)),
        ]
        var after = position
        for (name, handler) in handlers {
            try pipeline.addHandler(handler, name: name, position: after)
            after = .after(handler)
        }
    }
}

/// An upgrade request (WebSocket, h2c, ...): from here on the connection is a byte stream, so the
/// request goes upstream as it came and the relay takes over both directions.
enum HTTPUpgradeTunnel {
    static func start(
        head: HTTPRequestHead, to address: SocketAddress, session: RelaySession, context: ChannelHandlerContext
    ) {
        let pipeline = context.pipeline.syncOperations
        let relay = RelayHandler(side: .downstream, session: session)
        do {
            try pipeline.addHandler(relay, position: .last)
            // The relay sends what it got before pairing first: the request head, then what the decoder still holds.
            context.fireChannelRead(NIOAny(ByteBuffer(string: head.serialized)))
            for name in [HTTPPipeline.pipelining, HTTPPipeline.errors, HTTPPipeline.forward, HTTPPipeline.encoder] {
                pipeline.removeHandler(name: name, promise: nil)
            }
            // Last: its unparsed bytes go to the next inbound handler, which is now the relay.
            pipeline.removeHandler(name: HTTPPipeline.decoder, promise: nil)
        } catch {
            return context.close(promise: nil)
        }
        session.connect(to: address, relay)
    }
}
