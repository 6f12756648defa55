import NIOCore
import NIOEmbedded
import Testing

@testable import Proxy

/// The framing rules of the HTTP path on embedded channels: what goes upstream is always explicitly
/// framed, and a pooled connection is reused only when its last response ended exactly at its framing.
struct HTTPFramingTests {
    static let ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"

    @Test func chunkedBodyOnAGetIsForwardedChunked() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send(
            "GET /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n23\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n"
        )
        let sent = try fixture.written(fixture.upstream)
        #expect(sent.hasPrefix("GET /first HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n"), "\(sent)")
        #expect(sent.hasSuffix("\r\n\r\n23\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n"), "\(sent)")
    }

    @Test func connectionCannotRemoveFraming() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send(
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: Content-Length, X-Gone\r\nX-Gone: 1\r\n\r\nhello"
        )
        let sent = try fixture.written(fixture.upstream)
        #expect(sent.contains("content-length: 5\r\n") && sent.hasSuffix("\r\n\r\nhello"), "\(sent)")
        #expect(!sent.contains("X-Gone"))
    }

    @Test(arguments: [
        "TRACE / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    ])
    func ambiguousRequestsAreRefused(request: String) throws {
        let fixture = try HTTPForwardFixture()
        try? fixture.send(request)
        let answer = try fixture.written(fixture.downstream)
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(answer)")
        #expect(!fixture.downstream.isActive)
        let sent = try fixture.written(fixture.upstream)
        // A body that broke its framing midway may have started upstream; that connection is closed.
        #expect(sent.isEmpty || !fixture.upstream.isActive)
    }

    @Test func unexpected101IsAProtocolErrorAndTheConnectionIsNotReused() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET /A HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try fixture.written(fixture.upstream)
        try fixture.respond(
            "HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\ninjected")
        let answer = try fixture.written(fixture.downstream)
        #expect(
            answer.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n") && answer.contains("upstream-protocol-error"), "\(answer)")
        #expect(!fixture.upstream.isActive)
    }

    @Test func bytesAfterAResponseKeepTheConnectionOutOfThePool() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET /A HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try fixture.written(fixture.upstream)
        try fixture.respond(Self.ok + "HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\ninjected")
        #expect(try fixture.written(fixture.downstream).hasSuffix("\r\n\r\nok"))
        #expect(!fixture.upstream.isActive, "closed, not pooled")
    }

    @Test func headResponseCarriesNoBody() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try fixture.written(fixture.upstream)
        try fixture.respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        let answer = try fixture.written(fixture.downstream)
        #expect(
            answer.hasSuffix("\r\n\r\n") && !answer.contains("0\r\n\r\n") && !answer.contains("chunked"), "\(answer)")
        #expect(fixture.upstream.isActive, "a bodiless response ends at its head")
    }

    @Test func http10KeepAliveGetsAnExplicitKeepAlive() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let sent = try fixture.written(fixture.upstream)
        #expect(sent.hasPrefix("GET / HTTP/1.1\r\n"))
        try fixture.respond(Self.ok)
        let answer = try fixture.written(fixture.downstream)
        #expect(answer.contains("connection: keep-alive\r\n") && answer.contains("content-length: 2\r\n"), "\(answer)")
        #expect(fixture.downstream.isActive)
    }

    @Test func chunkedResponseToHTTP10ClientIsDelimitedByClose() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        _ = try fixture.written(fixture.upstream)
        try fixture.respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        let answer = try fixture.written(fixture.downstream)
        #expect(answer.contains("connection: close\r\n") && !answer.contains("chunked"), "\(answer)")
        #expect(answer.hasSuffix("\r\n\r\nabc"))
        #expect(!fixture.downstream.isActive)
    }

    @Test func interimResponsesGoToHTTP11ClientsOnly() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        _ = try fixture.written(fixture.upstream)
        try fixture.respond("HTTP/1.1 100 Continue\r\n\r\n")
        #expect(try fixture.written(fixture.downstream) == "HTTP/1.1 100 Continue\r\n\r\n")
        try fixture.send("hi")
        #expect(try fixture.written(fixture.upstream) == "hi")
        try fixture.respond(Self.ok)
        #expect(try fixture.written(fixture.downstream).hasSuffix("ok"))
    }

    @Test func absoluteFormAuthorityWinsOverHost() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET http://real:81/p?q HTTP/1.1\r\nHost: decoy\r\n\r\n")
        let sent = try fixture.written(fixture.upstream)
        #expect(sent.hasPrefix("GET /p?q HTTP/1.1\r\nhost: real:81\r\n") && !sent.contains("decoy"), "\(sent)")
    }

    @Test func slowHeadGets408() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET / HTTP/1.1\r\nHost: x\r\n")
        fixture.loop.advanceTime(by: fixture.settings.headerTimeout)
        let answer = try fixture.written(fixture.downstream)
        #expect(answer.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(answer)")
        #expect(!fixture.downstream.isActive)
    }

    @Test func upgradeBecomesATunnelOnlyAfter101() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        let sent = try fixture.written(fixture.upstream)
        #expect(sent.contains("connection: upgrade\r\nUpgrade: websocket\r\n"), "\(sent)")
        try fixture.respond("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nno")
        #expect(try fixture.written(fixture.downstream).hasSuffix("no"))
        // Still HTTP on the client's side, not a relay; the upstream connection that carried an upgrade
        // request is not pooled.
        #expect(try fixture.downstream.pipeline.syncOperations.handler(type: HTTPForwardHandler.self) != nil)
        #expect(fixture.downstream.isActive)
        #expect(!fixture.upstream.isActive)
    }

    @Test func upgradeSwitchesToARelayAfter101() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly")
        _ = try fixture.written(fixture.upstream)
        try fixture.respond(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nfirst")
        let answer = try fixture.written(fixture.downstream)
        #expect(
            answer.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n") && answer.hasSuffix("\r\n\r\nfirst"), "\(answer)")
        // The bytes the client sent after its request are the tunnel's first.
        #expect(try fixture.written(fixture.upstream) == "early")
        try fixture.send("more")
        #expect(try fixture.written(fixture.upstream) == "more")
        try fixture.respond("back")
        #expect(try fixture.written(fixture.downstream) == "back")
    }
}

/// A connection that ends, whichever way, leaves nothing behind: no cycle keeps its handlers, connection or
/// channels alive once the loop has run what closing deferred.
struct HTTPLifetimeTests {
    @Test(arguments: [
        "POST /x HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: up\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    ])
    func nothingOutlivesTheConnection(request: String) throws {
        weak var handler: HTTPForwardHandler?
        weak var connection: DownstreamConnection?
        do {
            let fixture = try HTTPForwardFixture()
            handler = try fixture.downstream.pipeline.syncOperations.handler(type: HTTPForwardHandler.self)
            connection = fixture.connection
            try? fixture.send(request)
            _ = try? fixture.downstream.finish()
            _ = try? fixture.upstream.finish()
            // An embedded loop runs what a channel defers on close (taking its handlers out) only when told to.
            fixture.loop.run()
        }
        #expect(handler == nil, "the forwarding handler outlives its connection")
        #expect(connection == nil, "the connection's record outlives its channel")
    }
}
