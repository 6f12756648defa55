import MesherBase
import NIOCore
import NIOPosix

/// Opens upstream connections on the downstream's event loop (no thread hop), with Mesher's mark so that
/// the capture rules skip them.
struct UpstreamConnector: Sendable {
    private static let soMark = NIOBSDSocket.Option(rawValue: SocketMark.option)

    let connectTimeout: TimeAmount
    let proxyMark: UInt32?
    let waterMark: ChannelOptions.Types.WriteBufferWaterMark

    init(settings: ProxySettings) {
        connectTimeout = settings.connectTimeout
        proxyMark = settings.proxyMark
        waterMark = settings.writeBufferWaterMark
    }

    /// `configure` builds the new channel's pipeline, on `eventLoop`; `timeout` replaces `connectTimeout`
    /// (a service's own).
    func connect(
        to address: SocketAddress, on eventLoop: any EventLoop, timeout: TimeAmount? = nil,
        configure: @escaping (ChannelPipeline.SynchronousOperations) throws -> Void
    ) -> EventLoopFuture<any Channel> {
        let configure = NIOLoopBound(configure, eventLoop: eventLoop)
        let waterMark = waterMark
        let proxyMark = proxyMark
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout ?? connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ProxySettings.applySocketOptions(channel, waterMark: waterMark, noDelay: false)
                    if let mark = proxyMark {
                        try channel.syncOptions?.setOption(.socketOption(Self.soMark), value: Int(mark))
                    }
                    try configure.value(channel.pipeline.syncOperations)
                }
            }
            .connect(to: address)
    }
}

extension ConnectionOutcome {
    /// Why a connect failed, as logged.
    init(connectError: any Error) {
        switch connectError {
        case ChannelError.connectTimeout: self = .connectTimeout
        case let error as IOError where error.errnoCode == ECONNREFUSED: self = .connectRefused
        case let error as NIOConnectionError:
            self =
                error.connectionErrors.contains { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }
                ? .connectRefused : .connectFailed
        default: self = .connectFailed
        }
    }
}
