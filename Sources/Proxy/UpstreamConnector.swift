import NIOCore
import NIOPosix

/// Opens upstream connections on the downstream's event loop (no thread hop).
struct UpstreamConnector: Sendable {
    let settings: RelaySettings
    /// SO_MARK (linux/socket.h): not in NIO's option list.
    private static let soMark = NIOBSDSocket.Option(rawValue: 36)

    func connect(to address: SocketAddress, on eventLoop: any EventLoop, handler: RelayHandler) -> EventLoopFuture<
        any Channel
    > {
        connect(to: address, on: eventLoop) { try $0.addHandler(handler) }
    }

    /// `configure` builds the new channel's pipeline, on `eventLoop`.
    func connect(
        to address: SocketAddress, on eventLoop: any EventLoop,
        configure: @escaping (ChannelPipeline.SynchronousOperations) throws -> Void
    ) -> EventLoopFuture<any Channel> {
        let configure = NIOLoopBound(configure, eventLoop: eventLoop)
        let settings = settings
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(settings.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try settings.applySocketOptions(channel, noDelay: false)
                    if let mark = settings.proxyMark {
                        try channel.syncOptions?.setOption(.socketOption(Self.soMark), value: Int(mark))
                    }
                    try configure.value(channel.pipeline.syncOperations)
                }
            }
            .connect(to: address)
    }
}
