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
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(settings.connectTimeout)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: settings.writeBufferWaterMark)
        if let mark = settings.proxyMark {
            bootstrap = bootstrap.channelOption(.socketOption(Self.soMark), value: Int(mark))
        }
        return bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try configure.value(channel.pipeline.syncOperations)
            }
        }.connect(to: address)
    }
}
