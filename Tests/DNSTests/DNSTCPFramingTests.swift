import Limits
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import DNS

/// A client connection's pipeline (DNSTCPQueryHandler.addHandlers) in an EmbeddedChannel: messages cut and joined
/// anywhere by TCP, answered with their 2-byte length. Queries are for a service name, answered locally at once.
/// (The idle timeout is tested on a real server: IdleStateHandler reads the wall clock, not the embedded one.)
@Suite struct DNSTCPFramingTests {
    static let idleTimeout = TimeAmount.seconds(10)

    let metrics = DNSServerMetrics()
    let channel = EmbeddedChannel()

    init() throws {
        let logger = Logger(label: "test")
        let processor = DNSQueryProcessor(
            responder: DNSQueryResponder(ttl: 5, searchDomains: TestData.searchDomains, lookup: TestData.lookup),
            forwarder: DNSForwarder(
                upstreams: [], timeout: .seconds(1), socketMark: nil, slots: DNSForwardSlots(limit: 1),
                warnings: RateLimitedLog(), logger: logger),
            metrics: metrics, logger: logger)
        try DNSTCPQueryHandler.addHandlers(
            to: channel.pipeline.syncOperations, processor: processor, idleTimeout: Self.idleTimeout)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 53)).wait()
    }

    static func framed(_ messages: [ByteBuffer]) -> ByteBuffer {
        var stream = ByteBuffer()
        for message in messages {
            stream.writeInteger(UInt16(message.readableBytes))
            stream.writeImmutableBuffer(message)
        }
        return stream
    }

    static func query(id: UInt16) throws -> ByteBuffer {
        try TestData.query(id: id, name: "AccountService", type: .a).encoded
    }

    /// Everything written to the client, read back as length-prefixed messages; nothing may be left over.
    func replies() throws -> [DNSMessage] {
        var stream = ByteBuffer()
        while let chunk = try channel.readOutbound(as: ByteBuffer.self) { stream.writeImmutableBuffer(chunk) }
        var messages: [DNSMessage] = []
        while let message = stream.readLengthPrefixedSlice(as: UInt16.self) {
            messages.append(try DNSMessage(decoding: message))
        }
        #expect(stream.readableBytes == 0, "a reply's frame is cut")
        return messages
    }

    @Test func queryCutAcrossReadsIsAnsweredOnceWhole() throws {
        var stream = Self.framed([try Self.query(id: 7)])
        // The length field itself is cut too.
        for size in [1, 2, 5] {
            let piece = stream.readSlice(length: size)
            try channel.writeInbound(try #require(piece))
            #expect(try replies().isEmpty)
        }
        try channel.writeInbound(stream)
        let answers = try replies()
        #expect(answers.map(\.id) == [7])
        #expect(answers.first?.answers.map(\.data) == [TestData.accountServiceIPv4])
        #expect(channel.isActive)
    }

    @Test func twoQueriesInOneReadAreBothAnswered() throws {
        try channel.writeInbound(Self.framed([try Self.query(id: 1), try Self.query(id: 2)]))
        #expect(try replies().map(\.id) == [1, 2])
        #expect(channel.isActive)
    }

    @Test func zeroLengthFrameClosesTheConnection() throws {
        try channel.writeInbound(Self.framed([try Self.query(id: 3), ByteBuffer(), try Self.query(id: 4)]))
        #expect(try replies().map(\.id) == [3], "nothing is read after a message that does not parse")
        #expect(!channel.isActive)
        #expect(metrics.malformedQueries == 1)
    }

    /// The client's last query is cut off by its half-close: the earlier one is still answered, then it closes.
    @Test func partialQueryAtHalfCloseIsDroppedAndTheRestAnswered() throws {
        var stream = Self.framed([try Self.query(id: 5), try Self.query(id: 6)])
        stream.moveWriterIndex(to: stream.writerIndex - 3)
        try channel.writeInbound(stream)
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try replies().map(\.id) == [5])
        #expect(!channel.isActive)
        try channel.throwIfErrorCaught()
    }
}
