import HTTP1
import NIOCore
import NIOPosix

/// Keep-alive HTTP connections to upstreams, one pool per event loop so that no request hops threads.
/// Only a connection whose last response ended exactly at its framing comes back (`isReusable`).
final class UpstreamPool {
    static let maxIdlePerAddress = 64
    static let idleTimeout = TimeAmount.seconds(60)

    let eventLoop: any EventLoop
    private let connector: UpstreamConnector
    private let limits: HTTP1HeadParser.Limits
    private var idle: [SocketAddress: [UpstreamHTTPHandler]] = [:]

    init(eventLoop: any EventLoop, settings: RelaySettings) {
        self.eventLoop = eventLoop
        self.connector = UpstreamConnector(settings: settings)
        self.limits = settings.httpLimits
    }

    enum Acquired {
        case idle(UpstreamHTTPHandler)
        case connecting(EventLoopFuture<UpstreamHTTPHandler>)
    }

    /// An idle connection to `address` if there is one (unless `fresh`), else a new one.
    func acquire(_ address: SocketAddress, fresh: Bool = false) -> Acquired {
        if !fresh {
            while let handler = idle[address]?.popLast() {
                guard handler.isReusable else {
                    handler.abandon()
                    continue
                }
                handler.markInUse()
                return .idle(handler)
            }
        }
        let handler = UpstreamHTTPHandler(address: address, pool: self, limits: limits)
        let future = connector.connect(to: address, on: eventLoop) { pipeline in
            try pipeline.addHandler(handler)
        }
        return .connecting(future.assumeIsolated().map { _ in handler }.nonisolated())
    }

    /// Back to the pool after a response that left the connection clean; anything else is closed.
    func release(_ handler: UpstreamHTTPHandler) {
        handler.receiver = nil
        handler.resumeReading()
        guard handler.isReusable, idle[handler.address, default: []].count < Self.maxIdlePerAddress else {
            return handler.abandon()
        }
        idle[handler.address, default: []].append(handler)
        handler.markIdle(timeout: Self.idleTimeout)
    }

    func forget(_ handler: UpstreamHTTPHandler) {
        idle[handler.address]?.removeAll { $0 === handler }
    }
}
