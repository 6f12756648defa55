import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import Proxy

/// What follows the Detect stage in these tests: it records what it was handed and what it then received.
final class NextStage: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var detected: [Detected] = []
    var received = ""

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
    }
}

/// The Detect stage on an embedded channel, its original destination given rather than read from a socket.
struct DetectFixture {
    static let original = try! SocketAddress(ipAddress: "198.18.0.2", port: 7000)
    let loop: EmbeddedEventLoop
    let channel: EmbeddedChannel
    let connection: DownstreamConnection
    let next = NextStage()

    init(
        loop: EmbeddedEventLoop = EmbeddedEventLoop(), cache: ServerFirstCache, accessLog: AccessLog? = nil,
        lookup: OriginalDestinationLookup? = nil
    ) throws {
        self.loop = loop
        channel = EmbeddedChannel(loop: loop)
        connection = testConnection(channel, environment: testEnvironment(accessLog: accessLog))
        let policy = AcceptPolicy(
            listener: .outbound, loopGuard: testLoopGuard,
            lookup: lookup ?? { $0.eventLoop.makeSucceededFuture(Self.original) })
        let next = self.next
        let detect = DetectHandler(
            connection: connection, policy: policy, serverFirst: cache,
            updateServerFirst: { $1 ? cache.insert($0, now: loop.now) : cache.remove($0) }, http2Known: { _ in false },
            handOff: { detected, _, context in
                next.detected.append(detected)
                try! context.pipeline.syncOperations.addHandler(next, position: .after(context.handler))
                return .installed(start: nil)
            })
        try channel.pipeline.syncOperations.addHandler(detect)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 15001)).wait()
    }

    var detectIsGone: Bool { (try? channel.pipeline.syncOperations.handler(type: DetectHandler.self)) == nil }
}

struct DetectHandlerTests {
    static let window = ProxySettings().sniffWindow

    @Test func httpGoesOnWithItsBytes() throws {
        let fixture = try DetectFixture(cache: ServerFirstCache(capacity: 8, ttl: .minutes(10)))
        try fixture.channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(fixture.next.detected.map(\.protocolSeen) == [.http])
        #expect(fixture.next.detected.first?.accepted.original == DetectFixture.original)
        #expect(fixture.next.received == "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(fixture.detectIsGone)
        #expect(fixture.connection.labels.protocolName == "http")
    }

    @Test func serverFirstDestinationIsLearntAndLaterConnectionsSkipTheWindow() throws {
        let cache = ServerFirstCache(capacity: 8, ttl: .minutes(10))
        let loop = EmbeddedEventLoop()
        let first = try DetectFixture(loop: loop, cache: cache)
        #expect(first.next.detected.isEmpty, "waits for the client to speak")
        loop.advanceTime(by: Self.window)
        #expect(first.next.detected.map(\.protocolSeen) == [.opaque])
        #expect(!cache.contains(DetectFixture.original, now: loop.now), "a silent client alone proves nothing")
        // The relay's first bytes come from the server.
        first.connection.serverFirstCheck?.firstBytes(fromServer: true)
        #expect(cache.contains(DetectFixture.original, now: loop.now))

        let second = try DetectFixture(loop: loop, cache: cache)
        #expect(second.next.detected.map(\.protocolSeen) == [.opaque], "relayed at once, no window")
        #expect(second.detectIsGone)
        // Its client speaks first after all: the destination is forgotten, the next one is sniffed again.
        second.connection.serverFirstCheck?.firstBytes(fromServer: false)
        #expect(!cache.contains(DetectFixture.original, now: loop.now))
    }

    /// A client slower than the sniff window is relayed as TCP, but must not make the destination skip L7.
    @Test func slowClientTeachesNothing() throws {
        let cache = ServerFirstCache(capacity: 8, ttl: .minutes(10))
        let loop = EmbeddedEventLoop()
        let fixture = try DetectFixture(loop: loop, cache: cache)
        loop.advanceTime(by: Self.window)
        #expect(fixture.next.detected.map(\.protocolSeen) == [.opaque])
        fixture.connection.serverFirstCheck?.firstBytes(fromServer: false)
        #expect(cache.count == 0)
    }

    @Test func clientThatSpeaksTeachesNothing() throws {
        let cache = ServerFirstCache(capacity: 8, ttl: .minutes(10))
        let fixture = try DetectFixture(cache: cache)
        try fixture.channel.writeInbound(ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]))
        #expect(fixture.next.detected.count == 1)
        #expect(cache.count == 0)
    }

    @Test func connectionWithoutOriginalDestinationIsResetAndLogged() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mesher-access-\(UUID()).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fixture = try DetectFixture(
            cache: ServerFirstCache(capacity: 8, ttl: .minutes(10)), accessLog: try AccessLog(path: path),
            lookup: OriginalDestination.of)
        // An embedded channel has no socket, so SO_ORIGINAL_DST cannot be read: refused like a direct connect.
        #expect(!fixture.channel.isActive)
        #expect(fixture.connection.record.outcome == .noOriginalDestination)
        #expect(fixture.next.detected.isEmpty)
        let line = try String(contentsOfFile: path, encoding: .utf8)
        #expect(line.contains(#""proto":"-""#), "never sniffed: \(line)")
        #expect(line.contains(#""result":"no-original-destination""#) && line.hasSuffix("}\n"))
    }
}
