import NIOCore
import NIOPosix
import Synchronization

@testable import DNS

enum TestData {
    static let accountServiceIPv4: [UInt8] = [240, 240, 0, 7]
    /// 2001:db8::7 (documentation range).
    static let accountServiceIPv6: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [7]
    /// What the fake upstream answers for every query: 192.0.2.53 (documentation range).
    static let upstreamIPv4: [UInt8] = [192, 0, 2, 53]
    static let upstreamTTL: UInt32 = 1234
    static let searchDomains = ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"]

    /// Sent by `dig AccountService.default.svc.cluster.local A` (BIND 9.18), captured on a loopback socket:
    /// RD and AD set, mixed case, EDNS OPT with a client cookie in the additional section.
    static let digAccountServiceQuery = bytes(
        hex: "3419012000010000000000010e4163636f756e74536572766963650764656661756c740373766307636c7573746572056c"
            + "6f63616c000001000100002904d000000000000c000a0008c37de6d84693d2c7")
    /// Sent by `dig example.test AAAA`, captured the same way.
    static let digExampleTestQuery = bytes(
        hex: "166f01200001000000000001076578616d706c65047465737400001c000100002904d000000000000c000a0008e854fd18"
            + "8a5060f2")

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).compactMap {
            UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16)
        }
    }

    static func query(id: UInt16, name: String, type: DNSRecordType, recordClass: DNSRecordClass = .internet)
        throws -> DNSMessage
    {
        var flags = DNSFlags()
        flags.recursionDesired = true
        return DNSMessage(
            id: id, flags: flags,
            questions: [DNSQuestion(name: try DNSName(name), type: type, recordClass: recordClass)])
    }

    /// Mesher's lookup in the tests: it owns "accountservice" only.
    static let lookup: @Sendable (String) -> DNSServiceAnswer? = { name in
        name == "accountservice" ? DNSServiceAnswer(ipv4: accountServiceIPv4, ipv6: accountServiceIPv6) : nil
    }
}

struct TestTimeoutError: Error {}

/// Runs `body`, failing instead of hanging the test run if it takes longer than `seconds`.
func withTimeout<Result: Sendable>(
    seconds: Double = 10, _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TestTimeoutError()
        }
        defer { group.cancelAll() }
        guard let result = try await group.next() else { throw TestTimeoutError() }
        return result
    }
}

/// A client for the server under test, written with plain NIO so it shares nothing with the server's plumbing.
enum DNSTestClient {
    /// Sends `packets` from one UDP socket and returns the first `replies` datagrams that come back.
    static func exchangeUDP(_ packets: [ByteBuffer], with server: SocketAddress, replies: Int) async throws
        -> [ByteBuffer]
    {
        try await withTimeout {
            let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: "127.0.0.1", port: 0) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(
                            wrappingChannelSynchronously: channel)
                    }
                }
            return try await channel.executeThenClose { inbound, outbound in
                for packet in packets {
                    try await outbound.write(AddressedEnvelope(remoteAddress: server, data: packet))
                }
                var received: [ByteBuffer] = []
                for try await datagram in inbound {
                    received.append(datagram.data)
                    if received.count == replies { break }
                }
                return received
            }
        }
    }

    static func queryUDP(_ packet: ByteBuffer, server: SocketAddress) async throws -> ByteBuffer {
        guard let reply = try await exchangeUDP([packet], with: server, replies: 1).first else {
            throw TestTimeoutError()
        }
        return reply
    }

    /// Sends `messages` length-prefixed on one TCP connection, then the raw bytes `trailing` (then shuts down its
    /// sending side if `halfClose`) and collects reply messages until `replies` arrived or the server closed the
    /// connection.
    static func exchangeTCP(
        _ messages: [ByteBuffer], trailing: [UInt8] = [], with server: SocketAddress, replies: Int,
        halfClose: Bool = false
    ) async throws -> [ByteBuffer] {
        try await withTimeout {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(to: server) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true))
                    }
                }
            return try await channel.executeThenClose { inbound, outbound in
                var request = ByteBuffer()
                for message in messages {
                    request.writeInteger(UInt16(message.readableBytes))
                    request.writeImmutableBuffer(message)
                }
                request.writeBytes(trailing)
                try await outbound.write(request)
                if halfClose { outbound.finish() }
                var received: [ByteBuffer] = []
                var stream = ByteBuffer()
                for try await chunk in inbound {
                    stream.writeImmutableBuffer(chunk)
                    while let message = stream.readLengthPrefixedSlice(as: UInt16.self) {
                        received.append(message)
                    }
                    if received.count >= replies { break }
                }
                return received
            }
        }
    }
}

/// Stands in for the host's resolver on 127.0.0.1: answers every query with an A record for
/// 192.0.2.53 over UDP and TCP on one port, and records the packets it received.
final class FakeUpstream: Sendable {
    let address: SocketAddress
    private let channels: [any Channel]
    private let recorder: PacketRecorder

    private init(address: SocketAddress, channels: [any Channel], recorder: PacketRecorder) {
        self.address = address
        self.channels = channels
        self.recorder = recorder
    }

    var receivedPackets: [ByteBuffer] { recorder.packets.withLock { $0 } }

    static func start() async throws -> FakeUpstream {
        let recorder = PacketRecorder()
        let udp = DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FakeUpstreamUDPHandler(recorder: recorder))
                }
            }
        let tcp = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(LengthPrefixedMessages()), FakeUpstreamTCPHandler(recorder: recorder))
                }
            }
        let (udpChannel, tcpChannel, address) = try await bindOnOnePort(udp: udp, tcp: tcp)
        return FakeUpstream(address: address, channels: [udpChannel, tcpChannel], recorder: recorder)
    }

    /// The fake's reply to `packet`, so a test can check the client got exactly these bytes.
    static func response(to packet: ByteBuffer) -> ByteBuffer? {
        guard let query = try? DNSMessage(decoding: packet), let question = query.questions.first else { return nil }
        let answer = DNSResourceRecord(
            name: question.name, type: .a, recordClass: .internet, ttl: TestData.upstreamTTL,
            data: TestData.upstreamIPv4)
        return DNSMessage.response(to: query, code: .noError, authoritative: false, answers: [answer]).encoded
    }

    func close() async throws {
        for channel in channels {
            try await channel.close()
        }
    }
}

/// UDP and TCP on one free port of 127.0.0.1. The UDP port is picked first, and tests running alongside
/// may hold the same number for a TCP client socket: then both are picked again.
func bindOnOnePort(udp: DatagramBootstrap, tcp: ServerBootstrap) async throws
    -> (udp: any Channel, tcp: any Channel, address: SocketAddress)
{
    var lastError: any Error = TestTimeoutError()
    for _ in 0..<10 {
        let udpChannel = try await udp.bind(host: "127.0.0.1", port: 0).get()
        guard let address = udpChannel.localAddress, let port = address.port else { throw TestTimeoutError() }
        do {
            return (udpChannel, try await tcp.bind(host: "127.0.0.1", port: port).get(), address)
        } catch {
            lastError = error
            try? await udpChannel.close()
        }
    }
    throw lastError
}

final class PacketRecorder: Sendable {
    let packets = Mutex<[ByteBuffer]>([])

    func record(_ packet: ByteBuffer) {
        packets.withLock { $0.append(packet) }
    }
}

private final class FakeUpstreamUDPHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    let recorder: PacketRecorder

    init(recorder: PacketRecorder) {
        self.recorder = recorder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let query = unwrapInboundIn(data)
        recorder.record(query.data)
        guard let reply = FakeUpstream.response(to: query.data) else { return }
        let envelope = AddressedEnvelope(remoteAddress: query.remoteAddress, data: reply)
        context.writeAndFlush(wrapOutboundOut(envelope), promise: nil)
    }
}

private final class FakeUpstreamTCPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let recorder: PacketRecorder

    init(recorder: PacketRecorder) {
        self.recorder = recorder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let query = unwrapInboundIn(data)
        recorder.record(query)
        guard let reply = FakeUpstream.response(to: query) else { return }
        var framed = ByteBuffer()
        framed.writeInteger(UInt16(reply.readableBytes))
        framed.writeImmutableBuffer(reply)
        context.writeAndFlush(wrapOutboundOut(framed), promise: nil)
    }
}

/// The fake upstream's own reading of DNS over TCP, written apart from Mesher's: a 2-byte length, then the message.
private struct LengthPrefixedMessages: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let message = buffer.readLengthPrefixedSlice(as: UInt16.self) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }
}
