import HTTP1
import NIOCore
import NIOPosix

/// Keep-alive HTTP connections to upstreams, one pool per event loop so that no request hops threads.
/// Only a connection whose last response ended exactly at its framing comes back (`isReusable`).
final class UpstreamPool {
    static let maxIdlePerAddress = 64
    static let idleTimeout = TimeAmount.seconds(60)

    /// Opens a connection to an address with the given handler last in its pipeline.
    typealias Connect = (SocketAddress, UpstreamHTTPHandler) -> EventLoopFuture<any Channel>

    let eventLoop: any EventLoop
    private let connect: Connect
    private let limits: HTTP1HeadParser.Limits
    private var idle: [SocketAddress: [UpstreamHTTPHandler]] = [:]

    /// `connect`: how new connections are made (embedded tests and the fuzzer bring their own).
    init(eventLoop: any EventLoop, limits: HTTP1HeadParser.Limits, connect: @escaping Connect) {
        self.eventLoop = eventLoop
        self.limits = limits
        self.connect = connect
    }

    convenience init(eventLoop: any EventLoop, limits: HTTP1HeadParser.Limits, connector: UpstreamConnector) {
        self.init(eventLoop: eventLoop, limits: limits) { address, handler in
            connector.connect(to: address, on: eventLoop) { try $0.addHandler(handler) }
        }
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
        return .connecting(connect(address, handler).assumeIsolated().map { _ in handler }.nonisolated())
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
