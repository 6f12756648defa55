import NIOCore

/// The downstream HTTP handler: Mesher's own HTTP/1 parser and forwarder, no separate codec.
enum HTTPPipeline {
    /// Adds the forwarder after `position`; bytes fired into it afterwards are parsed as HTTP.
    static func install(
        _ pipeline: ChannelPipeline.SynchronousOperations, position: ChannelPipeline.SynchronousOperations.Position,
        session: RelaySession
    ) throws {
        try pipeline.addHandler(HTTPForwardHandler(session: session), position: position)
    }
}
