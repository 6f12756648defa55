import NIOCore
import NIOEmbedded
import Testing

@testable import Proxy

struct DownstreamConnectionTests {
    @Test func idleConnectionIsClosedAfterTheTimeout() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        var settings = ProxySettings()
        settings.idleTimeout = .seconds(10)
        let connection = testConnection(channel, environment: testEnvironment(settings: settings))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 15001)).wait()
        connection.connectStarted()
        connection.connectFinished(upstreamOpen: true)
        loop.advanceTime(by: .seconds(5))
        connection.record.activity += 1
        loop.advanceTime(by: .seconds(10))
        #expect(channel.isActive, "activity 5 s ago must keep it open")
        loop.advanceTime(by: .seconds(5))
        #expect(!channel.isActive)
        #expect(connection.record.outcome == .idleTimeout)
    }

    @Test func quiescedConnectionClosesAtTheDrainDeadline() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let environment = testEnvironment()
        environment.drain.set(loop.now + .seconds(5))
        let connection = testConnection(channel, environment: environment)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 15001)).wait()
        connection.quiesce()
        loop.advanceTime(by: .seconds(4))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
        #expect(connection.record.outcome == .drained)
    }

    @Test func aFirstOutcomeIsKept() {
        let record = ConnectionRecord()
        record.fail(.connectRefused)
        record.fail(.reset)
        #expect(record.outcome == .connectRefused)
    }
}
