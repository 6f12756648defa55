import NIOCore
import NIOEmbedded
import Testing

@testable import Proxy
@testable import Routing

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

    /// A pool whose connections are embedded channels that connect at once.
    func embeddedPool() -> (EmbeddedEventLoop, UpstreamPool, () -> [EmbeddedChannel]) {
        let loop = EmbeddedEventLoop()
        var channels: [EmbeddedChannel] = []
        let pool = UpstreamPool(eventLoop: loop, limits: ProxySettings().httpLimits) { address, handler, _ in
            let channel = EmbeddedChannel(loop: loop)
            channels.append(channel)
            try? channel.pipeline.syncOperations.addHandler(handler)
            return channel.connect(to: address).map { channel as any Channel }
        }
        return (loop, pool, { channels })
    }

    /// The breaker's queue: with the service's one connection busy, one request waits and the next overflows;
    /// the connection coming back goes to the waiter for its address; one for another address gets it closed
    /// and opens its own.
    @Test func aBusyServiceQueuesThenOverflows() throws {
        let (loop, pool, channels) = embeddedPool()
        let connections = ServiceConnections(maxOpen: 1, maxPending: 1)
        let limit = UpstreamPool.Limit(connections: connections, connectTimeout: .seconds(1))
        let a = try SocketAddress(ipAddress: "198.18.0.2", port: 8080)
        let b = try SocketAddress(ipAddress: "198.18.0.3", port: 8080)
        guard case .connecting(let opening) = pool.acquire(a, limit: limit) else {
            Issue.record("the first request opens a connection")
            return
        }
        let first = try opening.wait()
        #expect(connections.open == 1 && connections.pending == 0)

        guard case .connecting(let waiting) = pool.acquire(a, limit: limit) else {
            Issue.record("the second request waits")
            return
        }
        guard case .overflow = pool.acquire(a, limit: limit) else {
            Issue.record("the third request overflows")
            return
        }
        pool.release(first)
        #expect(try waiting.wait() === first, "the connection went straight to the waiter")
        #expect(connections.pending == 0 && channels().count == 1)

        guard case .connecting(let other) = pool.acquire(b, limit: limit) else {
            Issue.record("a request for another instance waits")
            return
        }
        pool.release(first)
        loop.run()
        let opened = try other.wait()
        #expect(opened !== first && opened.address == b)
        #expect(channels().count == 2 && !channels()[0].isActive, "the idle one closed to make room")
        #expect(connections.open == 1 && connections.pending == 0)
    }

    /// A waiter whose request ended (answered, client gone) leaves the queue and frees its place.
    @Test func anUnwantedWaiterGivesUpItsPlace() throws {
        let (_, pool, _) = embeddedPool()
        let connections = ServiceConnections(maxOpen: 1, maxPending: 1)
        let limit = UpstreamPool.Limit(connections: connections, connectTimeout: .seconds(1))
        let a = try SocketAddress(ipAddress: "198.18.0.2", port: 8080)
        _ = try { if case .connecting(let f) = pool.acquire(a, limit: limit) { _ = try f.wait() } }()
        var wanted = true
        guard case .connecting(let waiting) = pool.acquire(a, limit: limit, wanted: { { wanted } }) else {
            Issue.record("the second request waits")
            return
        }
        wanted = false
        guard case .connecting = pool.acquire(a, limit: limit) else {
            Issue.record("the place of the unwanted waiter is free")
            return
        }
        #expect(throws: ChannelError.self) { try waiting.wait() }
        #expect(connections.pending == 1)
    }
}
