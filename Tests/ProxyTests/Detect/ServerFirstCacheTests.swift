import NIOCore
import Testing

@testable import Proxy

struct ServerFirstCacheTests {
    static func address(_ port: Int) -> SocketAddress { try! SocketAddress(ipAddress: "198.18.0.2", port: port) }

    @Test func entriesExpire() {
        let cache = ServerFirstCache(capacity: 4, ttl: .minutes(10))
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        cache.insert(Self.address(1), now: now)
        #expect(cache.contains(Self.address(1), now: now + .minutes(9)))
        #expect(!cache.contains(Self.address(1), now: now + .minutes(10)), "a changed server is learnt again")
        #expect(cache.count == 0)
    }

    @Test func boundedDroppingTheOldestFirst() {
        let cache = ServerFirstCache(capacity: 3, ttl: .minutes(10))
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        for port in 1...5 { cache.insert(Self.address(port), now: now + .seconds(Int64(port))) }
        #expect(cache.count == 3)
        #expect(!cache.contains(Self.address(1), now: now + .seconds(6)))
        #expect(!cache.contains(Self.address(2), now: now + .seconds(6)))
        #expect((3...5).allSatisfy { cache.contains(Self.address($0), now: now + .seconds(6)) })
    }

    @Test func zeroCapacityRemembersNothing() {
        let cache = ServerFirstCache(capacity: 0, ttl: .minutes(10))
        cache.insert(Self.address(1), now: .now())
        #expect(cache.count == 0)
    }
}
