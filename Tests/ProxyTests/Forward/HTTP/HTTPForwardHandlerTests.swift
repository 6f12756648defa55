import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Routing
import Testing

@testable import Proxy

/// The downstream HTTP pipeline on an embedded channel, with one idle pooled upstream connection (also
/// embedded) to the original destination, so that requests are forwarded without a socket.
struct HTTPForwardFixture {
    static let upstreamAddress = try! SocketAddress(ipAddress: "198.18.0.2", port: 8080)
    let loop = EmbeddedEventLoop()
    let downstream: EmbeddedChannel
    let upstream: EmbeddedChannel
    let connection: DownstreamConnection
    let settings: ProxySettings
    /// Connections Mesher opened after the pooled one (embedded too).
    let opened = OpenedChannels()

    final class OpenedChannels {
        var channels: [EmbeddedChannel] = []
    }

    init(maxHeaderBytes: Int = 65536) throws {
        downstream = EmbeddedChannel(loop: loop)
        upstream = EmbeddedChannel(loop: loop)
        var settings = ProxySettings()
        settings.httpLimits.maxHeadBytes = maxHeaderBytes
        self.settings = settings
        let environment = testEnvironment(settings: settings)
        let connector = UpstreamConnector(settings: settings)
        let (loop, opened) = (self.loop, self.opened)
        let pool = UpstreamPool(eventLoop: loop, limits: settings.httpLimits) { address, handler, _ in
            let channel = EmbeddedChannel(loop: loop)
            opened.channels.append(channel)
            try? channel.pipeline.syncOperations.addHandler(handler)
            return channel.connect(to: address).map { channel as any Channel }
        }
        connection = testConnection(downstream, environment: environment)
        try downstream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 15001)).wait()
        let forward = HTTPForwardHandler(
            connection: connection, accepted: Accepted(listener: .outbound, original: Self.upstreamAddress),
            forward: HTTPForwardContext(
                environment: environment, routes: RouteTable(router: nil), rules: LoopRoutes(RoutingRules()),
                pool: pool,
                http2Pool: HTTP2UpstreamPool(
                    eventLoop: loop, connector: connector, limits: settings.http2, maxHeaderListSize: 2048),
                endpoints: EndpointTable(policies: settings.traffic), connector: connector))
        try downstream.pipeline.syncOperations.addHandler(forward)

        let pooled = UpstreamHTTPHandler(address: Self.upstreamAddress, pool: pool, limits: settings.httpLimits)
        try upstream.pipeline.syncOperations.addHandler(pooled)
        try upstream.connect(to: Self.upstreamAddress).wait()
        pool.release(pooled)
    }

    func send(_ text: String) throws { try downstream.writeInbound(ByteBuffer(string: text)) }
    func respond(_ text: String) throws { try upstream.writeInbound(ByteBuffer(string: text)) }

    /// Everything written to one side so far, as text.
    func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }
}

struct HTTPForwardHandlerTests {
    static let ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"

    @Test func forwardsARequestAndItsResponse() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET /a HTTP/1.1\r\nHost: app\r\nConnection: keep-alive\r\n\r\n")
        let sent = try fixture.written(fixture.upstream)
        #expect(sent.hasPrefix("GET /a HTTP/1.1\r\n"))
        #expect(sent.contains("x-mesher-hop: 1\r\n"))
        #expect(!sent.lowercased().contains("connection:"), "hop-by-hop headers stay on their hop")
        try fixture.respond(Self.ok + "hi")
        let answer = try fixture.written(fixture.downstream)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.hasSuffix("\r\n\r\nhi"), "\(answer)")
        #expect(fixture.downstream.isActive)
    }

    /// The keep-alive race: the pooled connection closes before any answer. An idempotent request goes again on
    /// a new connection, byte for byte, body included; a POST is answered 502 and never sent twice.
    @Test func requestIsSentAgainWithItsBodyWhenThePooledConnectionClosed() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("PUT /a HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\nhel")
        try fixture.send("lo")
        let first = try fixture.written(fixture.upstream)
        #expect(first.hasSuffix("\r\n\r\nhello"))
        _ = fixture.upstream.close()
        fixture.loop.run()
        let again = try #require(fixture.opened.channels.first)
        #expect(try fixture.written(again) == first)
        try again.writeInbound(ByteBuffer(string: Self.ok + "ok"))
        #expect(try fixture.written(fixture.downstream).hasPrefix("HTTP/1.1 200 OK"))

        let post = try HTTPForwardFixture()
        try post.send("POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\nhello")
        _ = post.upstream.close()
        post.loop.run()
        #expect(post.opened.channels.isEmpty, "a POST is not sent again")
        #expect(try post.written(post.downstream).hasPrefix("HTTP/1.1 502 "))
    }

    @Test func pipelinedRequestWaitsForTheResponseBeforeIt() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET /one HTTP/1.1\r\nHost: app\r\n\r\nGET /two HTTP/1.1\r\nHost: app\r\n\r\n")
        let first = try fixture.written(fixture.upstream)
        #expect(first.hasPrefix("GET /one ") && !first.contains("/two"), "\(first)")
        try fixture.respond(Self.ok + "1!")
        #expect(try fixture.written(fixture.downstream).hasSuffix("1!"))
        // The connection went back to the pool and comes out again for the held request.
        #expect(try fixture.written(fixture.upstream).hasPrefix("GET /two "))
        try fixture.respond(Self.ok + "2!")
        #expect(try fixture.written(fixture.downstream).hasSuffix("2!"))
    }

    @Test func halfCloseAfterPipelinedRequestsClosesOnceTheyAreAnswered() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET /one HTTP/1.1\r\nHost: app\r\n\r\nGET /two HTTP/1.1\r\nHost: app\r\n\r\n")
        fixture.downstream.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        try fixture.respond(Self.ok + "1!")
        #expect(fixture.downstream.isActive, "the second request is still to answer")
        try fixture.respond(Self.ok + "2!")
        // The last answer says that the connection closes after it.
        let answers = try fixture.written(fixture.downstream)
        #expect(
            answers.hasSuffix("1!HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n2!"), "\(answers)")
        #expect(!fixture.downstream.isActive)
    }

    @Test func malformedRequestGets400AndTheConnectionCloses() throws {
        let fixture = try HTTPForwardFixture()
        try? fixture.send("GET / HTTP/1.1\r\nHost: app\r\nBad Header\r\n\r\n")
        let answer = try fixture.written(fixture.downstream)
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(answer)")
        #expect(answer.contains("x-mesher-error: invalid-header-name"))
        #expect(!fixture.downstream.isActive)
        #expect(try fixture.written(fixture.upstream).isEmpty)
    }

    @Test func malformedPipelinedRequestIsAnsweredAfterTheOneBeforeIt() throws {
        let fixture = try HTTPForwardFixture()
        try? fixture.send("GET /one HTTP/1.1\r\nHost: app\r\n\r\nGET / HTTP/1.1\r\nBad Header\r\n\r\n")
        #expect(try fixture.written(fixture.downstream).isEmpty)
        try fixture.respond(Self.ok + "1!")
        let answer = try fixture.written(fixture.downstream)
        #expect(answer.hasPrefix(Self.ok.prefix(15)) && answer.contains("1!HTTP/1.1 400 Bad Request\r\n"), "\(answer)")
        #expect(!fixture.downstream.isActive)
    }

    @Test func oversizeHeadGets400HeaderTooLarge() throws {
        let fixture = try HTTPForwardFixture(maxHeaderBytes: 1024)
        try? fixture.send("GET / HTTP/1.1\r\nHost: app\r\nX-Big: " + String(repeating: "a", count: 2000) + "\r\n\r\n")
        let answer = try fixture.written(fixture.downstream)
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n") && answer.contains("x-mesher-error: header-too-large"))
        #expect(!fixture.downstream.isActive)
        #expect(try fixture.written(fixture.upstream).isEmpty)
    }

    @Test func connectionErrorIsNotAnsweredAsABadRequest() throws {
        let fixture = try HTTPForwardFixture()
        fixture.downstream.pipeline.fireErrorCaught(IOError(errnoCode: ECONNRESET, reason: "read"))
        #expect(try fixture.written(fixture.downstream).isEmpty)
        #expect(!fixture.downstream.isActive)
    }
}
