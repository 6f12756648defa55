import Logging
import NIOCore
import NIOPosix
import Synchronization

@testable import DNS

/// An upstream resolver on 127.0.0.1 that never answers: UDP datagrams are read and dropped, TCP
/// connections accepted and left hanging. It counts what reached it and where from.
final class SilentUpstream: Sendable {
    let address: SocketAddress
    private let channels: [any Channel]
    private let record: SilentRecord

    private init(address: SocketAddress, channels: [any Channel], record: SilentRecord) {
        self.address = address
        self.channels = channels
        self.record = record
    }

    /// Source address of every datagram received.
    var udpSources: [SocketAddress] { record.state.withLock { $0.udpSources } }
    var tcpConnections: Int { record.state.withLock { $0.tcpConnections } }
    /// Forwarded queries that reached it, over both transports.
    var received: Int { record.state.withLock { $0.udpSources.count + $0.tcpConnections } }

    static func start() async throws -> SilentUpstream {
        let record = SilentRecord()
        let udp = DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SilentUDPHandler(record: record))
                }
            }
        let tcp = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                record.state.withLock { $0.tcpConnections += 1 }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
        let (udpChannel, tcpChannel, address) = try await bindOnOnePort(udp: udp, tcp: tcp)
        return SilentUpstream(address: address, channels: [udpChannel, tcpChannel], record: record)
    }

    func close() async throws {
        for channel in channels { try await channel.close() }
    }
}

private final class SilentRecord: Sendable {
    let state = Mutex<(udpSources: [SocketAddress], tcpConnections: Int)>(([], 0))
}

private final class SilentUDPHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let record: SilentRecord

    init(record: SilentRecord) { self.record = record }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let source = unwrapInboundIn(data).remoteAddress
        record.state.withLock { $0.udpSources.append(source) }
    }
}

/// Every line logged, as "level message metadata".
final class LogRecorder: Sendable {
    let lines = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "dns-test") { _ in RecordingHandler(recorder: self) }
    }

    func count(_ fragment: String) -> Int {
        lines.withLock { $0.filter { $0.contains(fragment) }.count }
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

private struct RecordingHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        recorder.lines.withLock { $0.append("\(event.level) \(event.message) \(fields.joined(separator: " "))") }
    }
}

/// Monotonic nanoseconds that move only when a test says so.
final class FakeMonotonicClock: Sendable {
    private let time = Atomic<UInt64>(1_000_000_000)

    var source: @Sendable () -> UInt64 { { self.time.load(ordering: .relaxed) } }

    func advance(seconds: Double) {
        time.add(UInt64(seconds * 1e9), ordering: .relaxed)
    }
}

extension DNSTestClient {
    /// Sends `packets` from one UDP socket and closes it without waiting for replies.
    static func sendUDP(_ packets: [ByteBuffer], to server: SocketAddress) async throws {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        for packet in packets {
            try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: server, data: packet))
        }
        try await channel.close()
    }
}
