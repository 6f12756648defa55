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
        #expect(fixture.downstream.isActive)
        fixture.downstream.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
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
