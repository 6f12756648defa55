import Config
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import Proxy

/// Records the outbound operations that reach the head of the pipeline.
final class OperationRecorder: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var reads = 0
    var closes: [CloseMode] = []
    var holdWrites = false
    var heldPromises: [EventLoopPromise<Void>] = []

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if holdWrites, let promise {
            heldPromises.append(promise)
            context.write(data, promise: nil)
        } else {
            context.write(data, promise: promise)
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        closes.append(mode)
        if mode == .output { promise?.succeed() } else { context.close(mode: mode, promise: promise) }
    }
}

/// Two embedded channels joined by a pair of relay handlers, as after a successful upstream connect.
struct RelayPair {
    let loop = EmbeddedEventLoop()
    let downstream: EmbeddedChannel
    let upstream: EmbeddedChannel
    let downstreamRecorder = OperationRecorder()
    let upstreamRecorder = OperationRecorder()
    let session: RelaySession

    init() throws {
        downstream = EmbeddedChannel(loop: loop)
        upstream = EmbeddedChannel(loop: loop)
        session = RelaySession(environment: testEnvironment(on: loop), downstream: downstream)
        // The downstream handler starts the original-destination lookup on channelActive; these tests
        // exercise the relay after that, so both sides are upstream-style handlers sharing one session.
        let down = RelayHandler(side: .upstream, session: session)
        let up = RelayHandler(side: .upstream, session: session)
        try downstream.pipeline.syncOperations.addHandlers([downstreamRecorder, down])
        try upstream.pipeline.syncOperations.addHandlers([upstreamRecorder, up])
        try downstream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 15001)).wait()
        try upstream.connect(to: SocketAddress(ipAddress: "198.18.0.2", port: 80)).wait()
        RelayHandler.pair(down, up)
    }
}

/// Settings as configured by default, and the state of `loop` (the embedded channels' loop).
func testEnvironment(on loop: any EventLoop, accessLog: AccessLog? = nil) -> RelayEnvironment {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    let settings = RelaySettings(
        MesherConfig(), proxyMark: nil, localAddresses: LocalAddressTable([[198, 18, 0, 1]], lookup: { [] }))
    let state = NIOLoopBoundBox.makeBoxSendingValue(
        LoopState(pool: UpstreamPool(eventLoop: loop, settings: settings)), eventLoop: loop)
    return RelayEnvironment(
        settings: settings, logger: logger, accessLog: accessLog, tracker: ConnectionTracker(),
        loops: [ObjectIdentifier(loop): state])
}

struct RelayHandlerTests {
    @Test func relaysBytesBothWaysAndCountsThem() throws {
        let pair = try RelayPair()
        try pair.downstream.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        #expect(try pair.upstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        try pair.upstream.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n"))
        #expect(try pair.downstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n"))
        #expect(pair.session.activity == 2)
    }

    @Test func bytesReadBeforePairingAreSentFirst() throws {
        let loop = EmbeddedEventLoop()
        let downstream = EmbeddedChannel(loop: loop)
        let upstream = EmbeddedChannel(loop: loop)
        let session = RelaySession(environment: testEnvironment(on: loop), downstream: downstream)
        let down = RelayHandler(side: .downstream, session: session)
        let up = RelayHandler(side: .upstream, session: session)
        try downstream.pipeline.syncOperations.addHandler(down)
        try upstream.pipeline.syncOperations.addHandler(up)
        try downstream.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        try downstream.writeInbound(ByteBuffer(string: "Host: a\r\n\r\n"))
        #expect(try upstream.readOutbound(as: ByteBuffer.self) == nil)
        try upstream.connect(to: SocketAddress(ipAddress: "198.18.0.2", port: 80)).wait()
        RelayHandler.pair(down, up)
        #expect(
            try upstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(session.bytesUp == 27)
    }

    @Test func stopsReadingWhilePartnerIsNotWritable() throws {
        let pair = try RelayPair()
        pair.upstream.isWritable = false
        let before = pair.downstreamRecorder.reads
        pair.downstream.read()
        #expect(pair.downstreamRecorder.reads == before, "must not read while the other side cannot take it")
        pair.upstream.isWritable = true
        pair.upstream.pipeline.fireChannelWritabilityChanged()
        #expect(pair.downstreamRecorder.reads == before + 1, "the held read is issued once writable again")
    }

    @Test func halfCloseShutsPartnerOutputOnlyAfterQueuedWrites() throws {
        let pair = try RelayPair()
        pair.upstreamRecorder.holdWrites = true
        try pair.downstream.writeInbound(ByteBuffer(string: "last bytes"))
        pair.downstream.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(pair.upstreamRecorder.closes.isEmpty, "output shut while a write is still queued")
        for promise in pair.upstreamRecorder.heldPromises { promise.succeed() }
        #expect(pair.upstreamRecorder.closes == [.output])
        #expect(try pair.upstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "last bytes"))
    }

    @Test func errorOnOneSideResetsTheOther() throws {
        let pair = try RelayPair()
        pair.downstream.pipeline.fireErrorCaught(IOError(errnoCode: ECONNRESET, reason: "read"))
        #expect(pair.session.outcome == .reset)
        #expect(pair.upstreamRecorder.closes == [.all])
    }
}

struct RelaySessionTests {
    @Test func connectionWithoutOriginalDestinationIsResetAndLogged() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mesher-access-\(UUID()).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let channel = EmbeddedChannel()
        let session = RelaySession(
            environment: testEnvironment(on: channel.eventLoop, accessLog: try AccessLog(path: path)),
            downstream: channel)
        try channel.pipeline.syncOperations.addHandler(SniffHandler(session: session))
        // An embedded channel has no socket, so SO_ORIGINAL_DST cannot be read: refused like a direct connect.
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 15001)).wait()
        #expect(!channel.isActive)
        #expect(session.outcome == .noOriginalDestination)
        let line = try String(contentsOfFile: path, encoding: .utf8)
        #expect(line.contains(#""proto":"-""#), "never sniffed: \(line)")
        #expect(line.contains(#""result":"no-original-destination""#) && line.hasSuffix("}\n"))
    }

    @Test func idleConnectionIsClosedAfterTheTimeout() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        var environment = testEnvironment(on: loop)
        environment.settings.idleTimeout = .seconds(10)
        let session = RelaySession(environment: environment, downstream: channel)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 15001)).wait()
        session.connectStarted()
        session.connectFinished(upstreamOpen: true)
        loop.advanceTime(by: .seconds(5))
        session.activity += 1
        loop.advanceTime(by: .seconds(10))
        #expect(channel.isActive, "activity 5 s ago must keep it open")
        loop.advanceTime(by: .seconds(5))
        #expect(!channel.isActive)
        #expect(session.outcome == .idleTimeout)
    }

    @Test(
        arguments: [
            ("198.18.0.2", 15001, nil), ("198.18.0.2", 80, nil),
            ("127.0.0.2", 15001, RelayOutcome.loop), ("198.18.0.1", 15001, .loop), ("::1", 15001, .loop),
        ] as [(String, Int, RelayOutcome?)])
    func refusesDestinationsThatAreMesherItself(_ host: String, _ port: Int, _ expected: RelayOutcome?) throws {
        let settings = testEnvironment(on: EmbeddedEventLoop()).settings
        let local = try SocketAddress(ipAddress: "127.0.0.1", port: 15001)
        #expect(settings.refusal(for: try SocketAddress(ipAddress: host, port: port), local: local) == expected)
    }

    @Test func notRedirectedConnectionHasNoOriginalDestination() throws {
        let local = try SocketAddress(ipAddress: "127.0.0.1", port: 15001)
        #expect(
            testEnvironment(on: EmbeddedEventLoop()).settings.refusal(for: local, local: local)
                == .noOriginalDestination)
    }

    @Test func connectErrorsAreClassified() {
        #expect(RelaySession.outcome(of: ChannelError.connectTimeout(.seconds(5))) == .connectTimeout)
        #expect(RelaySession.outcome(of: IOError(errnoCode: ECONNREFUSED, reason: "connect")) == .connectRefused)
        #expect(RelaySession.outcome(of: IOError(errnoCode: EHOSTUNREACH, reason: "connect")) == .connectFailed)
    }
}
