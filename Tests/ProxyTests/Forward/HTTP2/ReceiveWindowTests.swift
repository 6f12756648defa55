import HTTP1
import NIOCore
import NIOHPACK
import NIOHTTP2
import Testing

@testable import Proxy

struct ReceiveWindowTests {
    @Test func theWindowOpensOnlyByWhatWasPassedOn() {
        var window = ReceiveWindow(target: 65535, initial: 65535)
        window.received(40000)
        #expect(window.release(0) == nil, "down to 25,535 but nothing passed on: the peer waits")
        #expect(window.release(40000) == 40000)
        #expect(window.open == 65535 && window.held == 0)
    }

    @Test func noUpdateBeforeHalfTheWindowIsUsed() {
        var window = ReceiveWindow(target: 65535, initial: 65535)
        window.received(1000)
        #expect(window.release(1000) == nil, "one small frame: no WINDOW_UPDATE each time")
        window.received(40000)
        #expect(window.release(40000) == 41000)
    }

    @Test func aSlowConsumerHoldsAtMostOneWindow() {
        var window = ReceiveWindow(target: 65535, initial: 65535)
        window.received(65535)
        #expect(window.open == 0)
        // A quarter passed on: the peer may send a quarter more; never more than the target is in Mesher or on
        // its way.
        #expect(window.release(16384) == 16384)
        #expect(window.open + window.held == 65535)
        window.received(16384)
        #expect(window.release(0) == nil, "nothing more passed on: nothing more let in")
        #expect(window.open + window.held == 65535)
    }

    @Test func aConnectionIsToppedUpFromWhatNIOCounts() {
        let target = 1 << 20
        let first = NIOHTTP2WindowUpdatedEvent(
            streamID: .rootStream, inboundWindowSize: 65535 - 100, outboundWindowSize: 0)
        #expect(ReceiveWindow.connectionIncrement(first, target: target) == target - 65435)
        let later = NIOHTTP2WindowUpdatedEvent(
            streamID: .rootStream, inboundWindowSize: target - 100, outboundWindowSize: 0)
        #expect(ReceiveWindow.connectionIncrement(later, target: target) == nil)
    }

    @Test func paddingCountsAgainstTheWindow() {
        var data = HTTP2Frame.FramePayload.Data(data: .byteBuffer(ByteBuffer(string: "abc")))
        #expect(ReceiveWindow.length(of: data) == 3)
        data.paddingBytes = 10
        #expect(ReceiveWindow.length(of: data) == 14, "the padding and its length byte")
    }
}

struct HTTP2UpstreamBridgeTests {
    static let limits = HTTP1HeadParser.Limits(maxHeadBytes: 4096, maxFields: 32)

    /// An h2c instance's response headers as the HTTP/1.1 head an HTTP/1 client gets, read back by the strict
    /// parser: fields kept, pseudo-headers gone, the length as it said.
    @Test func responseHeadersBecomeAnHTTP1Head() throws {
        let fields = HPACKHeaders([(":status", "200"), ("content-type", "text/plain"), ("content-length", "5")])
        let head = try #require(HTTP2UpstreamBridge.responseHead(fields, limits: Self.limits))
        #expect(head.status == 200 && head.contentLength == 5)
        #expect(head.responseFraming(toHEAD: false, toCONNECT: false) == .contentLength(5))
        #expect(head.fields.count == 2)
    }

    @Test func aResponseNoHTTP1HeadCanCarryIsRefused() {
        #expect(HTTP2UpstreamBridge.responseHead(HPACKHeaders([("content-length", "5")]), limits: Self.limits) == nil)
        #expect(HTTP2UpstreamBridge.responseHead(HPACKHeaders([(":status", "20")]), limits: Self.limits) == nil)
        let folded = HPACKHeaders([(":status", "200"), ("x-a", "1\r\nx-b: 2")])
        #expect(HTTP2UpstreamBridge.responseHead(folded, limits: Self.limits) == nil, "no field smuggled in")
    }

    /// HTTP/2 allows control characters in a trailer's value; HTTP/1 does not: such a trailer is left out.
    @Test func trailersHTTP1CannotCarryAreLeftOut() {
        let trailers = HPACKHeaders([("grpc-status", "0"), ("x-bad", "a\u{5}b"), ("x-ok", "fine")])
        #expect(String(buffer: HTTP1UpstreamBridge.trailerLines(trailers)) == "grpc-status: 0\r\nx-ok: fine\r\n")
    }
}
