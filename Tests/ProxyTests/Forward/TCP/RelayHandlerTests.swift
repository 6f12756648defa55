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
    let connection: DownstreamConnection

    init() throws {
        downstream = EmbeddedChannel(loop: loop)
        upstream = EmbeddedChannel(loop: loop)
        connection = testConnection(downstream)
        // These tests exercise the relay once connected, so both sides are upstream-style handlers sharing
        // one connection.
        let down = RelayHandler(side: .upstream, connection: connection)
        let up = RelayHandler(side: .upstream, connection: connection)
        try downstream.pipeline.syncOperations.addHandlers([downstreamRecorder, down])
        try upstream.pipeline.syncOperations.addHandlers([upstreamRecorder, up])
        try downstream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 15001)).wait()
        try upstream.connect(to: SocketAddress(ipAddress: "198.18.0.2", port: 80)).wait()
        RelayHandler.pair(down, up)
    }
}

struct RelayHandlerTests {
    @Test func relaysBytesBothWaysAndCountsThem() throws {
        let pair = try RelayPair()
        try pair.downstream.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        #expect(try pair.upstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        try pair.upstream.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n"))
        #expect(try pair.downstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n"))
        #expect(pair.connection.record.activity == 2)
    }

    @Test func bytesReadBeforePairingAreSentFirst() throws {
        let loop = EmbeddedEventLoop()
        let downstream = EmbeddedChannel(loop: loop)
        let upstream = EmbeddedChannel(loop: loop)
        let connection = testConnection(downstream)
        let down = RelayHandler(side: .downstream, connection: connection)
        let up = RelayHandler(side: .upstream, connection: connection)
        try downstream.pipeline.syncOperations.addHandler(down)
        try upstream.pipeline.syncOperations.addHandler(up)
        try downstream.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        try downstream.writeInbound(ByteBuffer(string: "Host: a\r\n\r\n"))
        #expect(try upstream.readOutbound(as: ByteBuffer.self) == nil)
        try upstream.connect(to: SocketAddress(ipAddress: "198.18.0.2", port: 80)).wait()
        RelayHandler.pair(down, up)
        #expect(
            try upstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(connection.record.bytesUp == 27)
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
        #expect(pair.connection.record.outcome == .reset)
        #expect(pair.upstreamRecorder.closes == [.all])
    }

    @Test func quiesceLetsTheRelayGoOn() throws {
        let pair = try RelayPair()
        pair.downstream.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(pair.connection.isDraining)
        try pair.downstream.writeInbound(ByteBuffer(string: "more"))
        #expect(try pair.upstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "more"))
        #expect(pair.downstream.isActive && pair.upstream.isActive)
    }
}
