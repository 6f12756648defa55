import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import Proxy

struct HeaderSizeLimitHandlerTests {
    func channel(limit: Int) throws -> (EmbeddedChannel, HeaderSizeLimitHandler) {
        let handler = HeaderSizeLimitHandler(limit: limit, logger: Logger(label: "test"))
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, handler)
    }

    @Test func oversizeHeadIsAnswered400AndClosed() throws {
        let (channel, _) = try channel(limit: 1024)
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 2000)))
        let reply = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: reply).hasPrefix("HTTP/1.1 400 Bad Request\r\nx-mesher-error: header-too-large"))
        #expect(!channel.isActive)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil, "nothing of it reaches the decoder")
    }

    @Test func largeBodyAfterASmallHeadPasses() throws {
        let (channel, handler) = try channel(limit: 1024)
        let head = "POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n"
        try channel.writeInbound(ByteBuffer(string: head + String(repeating: "b", count: 3000)))
        try channel.writeInbound(ByteBuffer(string: String(repeating: "b", count: 2000)))
        #expect(channel.isActive)
        #expect(try channel.readInbound(as: ByteBuffer.self)?.readableBytes == head.utf8.count + 3000)
        handler.requestEnded()
        // The next head is measured again, also when its blank line is split across reads.
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n\r"))
        try channel.writeInbound(ByteBuffer(string: "\n"))
        #expect(channel.isActive)
    }
}
