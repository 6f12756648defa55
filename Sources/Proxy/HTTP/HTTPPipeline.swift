import NIOCore
import NIOHTTP1

/// The downstream HTTP handlers, by name so that an upgrade can take them out again.
enum HTTPPipeline {
    static let decoder = "mesher-http-decoder"
    static let encoder = "mesher-http-encoder"
    static let forward = "mesher-http-forward"

    /// Adds the codec and the forwarder after `position`; bytes fired into it afterwards are parsed as HTTP.
    /// The decoder caps a request head at `http.maxHeaderBytes` (a 400 `header-too-large` past it).
    static func install(
        _ pipeline: ChannelPipeline.SynchronousOperations, position: ChannelPipeline.SynchronousOperations.Position,
        session: RelaySession
    ) throws {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = session.environment.settings.maxHeaderBytes
        limits.maxHeaderListSize = session.environment.settings.maxHeaderBytes
        let handlers: [(String, any ChannelHandler)] = [
            (
                decoder,
                ByteToMessageHandler(
                    HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes, limitConfiguration: limits))
            ),
            (encoder, HTTPResponseEncoder()),
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
        head: HTTPRequestHead, route: UpstreamRoute, session: RelaySession, context: ChannelHandlerContext
    ) {
        let pipeline = context.pipeline.syncOperations
        let relay = RelayHandler(side: .downstream, session: session)
        do {
            try pipeline.addHandler(relay, position: .last)
            // The relay sends what it got before pairing first: the request head, then what the decoder still holds.
            context.fireChannelRead(NIOAny(ByteBuffer(string: head.serialized)))
            removeHTTPHandlers(pipeline)
        } catch {
            return context.close(promise: nil)
        }
        session.connect(to: route, relay)
    }

    /// Takes the HTTP handlers out so that the relay, added last, sees raw bytes.
    static func removeHTTPHandlers(_ pipeline: ChannelPipeline.SynchronousOperations) {
        for name in [HTTPPipeline.forward, HTTPPipeline.encoder] {
            pipeline.removeHandler(name: name, promise: nil)
        }
        // Last: its unparsed bytes go to the next inbound handler, which is now the relay.
        pipeline.removeHandler(name: HTTPPipeline.decoder, promise: nil)
    }
}

/// CONNECT (explicit proxy): connect first, then answer 200 and relay bytes; a failure is answered
/// by the HTTP path as a 502, since the codec is still in place until the tunnel exists.
enum HTTPConnectTunnel {
    static func start(_ route: UpstreamRoute, session: RelaySession, context: ChannelHandlerContext) {
        let relay = RelayHandler(side: .downstream, session: session)
        let pipeline = context.pipeline.syncOperations
        session.connect(
            to: route, relay,
            beforePairing: {
                do {
                    try pipeline.addHandler(relay, position: .last)
                } catch {
                    return context.close(promise: nil)
                }
                HTTPUpgradeTunnel.removeHTTPHandlers(pipeline)
                context.channel.writeAndFlush(
                    ByteBuffer(string: "HTTP/1.1 200 Connection Established\r\n\r\n"), promise: nil)
            },
            onFailure: { outcome in
                let reply =
                    "HTTP/1.1 502 Bad Gateway\r\nx-mesher-error: \(HTTPForwardHandler.errorName(outcome))\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                HTTPUpgradeTunnel.removeHTTPHandlers(pipeline)
                context.channel.writeAndFlush(ByteBuffer(string: reply)).assumeIsolated().whenComplete { _ in
                    context.channel.close(promise: nil)
                }
            })
    }
}
