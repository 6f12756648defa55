import NIOCore
import NIOEmbedded
import Testing

@testable import Proxy

struct UpstreamPoolTests {
    /// One pooled connection on an embedded channel, released into `pool`.
    func pooledConnection() throws -> (EmbeddedEventLoop, UpstreamPool, UpstreamHTTPHandler, EmbeddedChannel) {
        let loop = EmbeddedEventLoop()
        let limits = ProxySettings().httpLimits
        let pool = UpstreamPool(
            eventLoop: loop, limits: limits, connector: UpstreamConnector(settings: ProxySettings()))
        let address = try SocketAddress(ipAddress: "198.18.0.2", port: 8080)
        let handler = UpstreamHTTPHandler(address: address, pool: pool, limits: limits)
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.connect(to: address).wait()
        pool.release(handler)
        return (loop, pool, handler, channel)
    }

    @Test func idleConnectionClosesAfterTheTimeoutCountedFromItsLastUse() throws {
        let (loop, pool, handler, channel) = try pooledConnection()
        loop.advanceTime(by: .seconds(40))
        // Used again after 40 s, and back in the pool: the first timer must not close it 20 s later.
        guard case .idle(let reused) = pool.acquire(handler.address) else {
            Issue.record("the idle connection was not reused")
            return
        }
        #expect(reused === handler)
        pool.release(handler)
        loop.advanceTime(by: .seconds(30))
        #expect(channel.isActive, "idle for 30 s only")
        loop.advanceTime(by: UpstreamPool.idleTimeout)
        #expect(!channel.isActive, "idle for longer than the timeout")
    }
}
