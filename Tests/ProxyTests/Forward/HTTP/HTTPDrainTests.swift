import NIOCore
import NIOEmbedded
import Testing

@testable import Proxy

/// A drain on the HTTP path, on embedded channels.
struct HTTPDrainTests {
    @Test func idleKeepAliveConnectionClosesAtOnce() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET /a HTTP/1.1\r\nHost: app\r\n\r\n")
        try fixture.respond(HTTPForwardHandlerTests.ok + "hi")
        _ = try fixture.written(fixture.downstream)
        fixture.loop.advanceTime(by: fixture.settings.drainGrace)
        #expect(fixture.downstream.isActive)
        fixture.downstream.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!fixture.downstream.isActive)
        #expect(fixture.connection.record.outcome == .drained)
    }

    /// Answered a moment ago: the client's next request may be on its way, and gets the drain grace.
    @Test func justAnsweredConnectionGetsTheGraceThenCloses() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET /a HTTP/1.1\r\nHost: app\r\n\r\n")
        try fixture.respond(HTTPForwardHandlerTests.ok + "hi")
        _ = try fixture.written(fixture.downstream)
        fixture.downstream.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(fixture.downstream.isActive)
        fixture.loop.advanceTime(by: fixture.settings.drainGrace)
        #expect(!fixture.downstream.isActive)
        #expect(fixture.connection.record.outcome == .drained)
    }

    /// The response's head went out keep-alive before the drain: the client's next request is answered,
    /// with `connection: close`, not cut off.
    @Test func aRequestWithinTheGraceIsAnsweredWithConnectionClose() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET /a HTTP/1.1\r\nHost: app\r\n\r\n")
        try fixture.respond("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        fixture.downstream.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        try fixture.respond("hi")
        #expect(try fixture.written(fixture.downstream).hasSuffix("hi"))
        #expect(fixture.downstream.isActive, "its head said keep-alive")
        try fixture.send("GET /b HTTP/1.1\r\nHost: app\r\n\r\n")
        try fixture.respond(HTTPForwardHandlerTests.ok + "hi")
        #expect(try fixture.written(fixture.downstream).contains("connection: close\r\n"))
        #expect(!fixture.downstream.isActive)
        #expect(fixture.connection.record.outcome == .drained)
    }

    @Test func requestInFlightGetsConnectionCloseThenCloses() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET /a HTTP/1.1\r\nHost: app\r\n\r\n")
        fixture.downstream.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(fixture.downstream.isActive, "the request in flight gets its response")
        try fixture.respond(HTTPForwardHandlerTests.ok + "hi")
        let answer = try fixture.written(fixture.downstream)
        #expect(answer.contains("connection: close\r\n") && answer.hasSuffix("hi"), "\(answer)")
        #expect(!fixture.downstream.isActive)
        #expect(fixture.connection.record.outcome == .drained)
    }

    @Test func pipelinedRequestIsNotStartedOnceDraining() throws {
        let fixture = try HTTPForwardFixture()
        try fixture.send("GET /one HTTP/1.1\r\nHost: app\r\n\r\nGET /two HTTP/1.1\r\nHost: app\r\n\r\n")
        fixture.downstream.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        try fixture.respond(HTTPForwardHandlerTests.ok + "1!")
        #expect(try fixture.written(fixture.downstream).hasSuffix("connection: close\r\n\r\n1!"))
        #expect(!(try fixture.written(fixture.upstream)).contains("/two"))
        #expect(!fixture.downstream.isActive)
    }
}
