import NIOCore
import NIOHPACK
import Testing

@testable import Sniff

/// The authority of an HTTP/2 connection's first request, read from its frames as a client sends them.
struct HTTP2FirstRequestTests {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    static func frame(type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags]
            + withUnsafeBytes(of: stream.bigEndian, Array.init) + payload
    }

    static func block(_ fields: [(String, String)]) -> [UInt8] {
        var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
        var buffer = ByteBuffer()
        try! encoder.encode(headers: HPACKHeaders(fields), to: &buffer)
        return Array(buffer.readableBytesView)
    }

    static let request = block([
        (":method", "POST"), (":scheme", "http"), (":authority", "GrpcService:50051"), (":path", "/mesh.Echo/Unary"),
    ])
    static let settings = frame(type: 0x4, [0, 3, 0, 0, 0, 100])
    static let windowUpdate = frame(type: 0x8, [0, 0, 0x10, 0])

    func classify(_ bytes: [UInt8]) -> SniffResult { ProtocolSniffer.classify(ByteBuffer(bytes: bytes)) }

    @Test func authorityOfTheFirstHeaders() {
        let bytes =
            Self.preface + Self.settings + Self.windowUpdate
            + Self.frame(type: 0x1, flags: 0x4, stream: 1, Self.request)
        #expect(classify(bytes) == .http2(authority: "GrpcService:50051"))
        // Wherever TCP cut the bytes, the answer is to wait, then the same.
        for cut in [Self.preface.count, Self.preface.count + 3, bytes.count - 1] {
            #expect(classify(Array(bytes.prefix(cut))) == .needMore, "cut at \(cut)")
        }
    }

    @Test func paddedPrioritizedAndContinued() {
        let padded = Self.frame(
            type: 0x1, flags: 0x4 | 0x8 | 0x20, stream: 1, [3, 0, 0, 0, 0, 16] + Self.request + [0, 0, 0])
        #expect(classify(Self.preface + padded) == .http2(authority: "GrpcService:50051"))
        let half = Self.request.count / 2
        let continued =
            Self.frame(type: 0x1, stream: 1, Array(Self.request[..<half]))
            + Self.frame(type: 0x9, flags: 0x4, stream: 1, Array(Self.request[half...]))
        #expect(classify(Self.preface + continued) == .http2(authority: "GrpcService:50051"))
    }

    @Test func hostWhenNoAuthority() {
        let block = Self.block([(":method", "GET"), (":scheme", "http"), (":path", "/"), ("host", "H2Web")])
        #expect(
            classify(Self.preface + Self.frame(type: 0x1, flags: 0x4, stream: 1, block)) == .http2(authority: "H2Web"))
    }

    @Test func framesNoClientSendsFirstNameNoAuthority() {
        // DATA before any HEADERS, a frame inside a header block, padding longer than the frame, a broken block.
        let data = Self.frame(type: 0x0, stream: 1, [1, 2, 3])
        #expect(classify(Self.preface + data) == .http2(authority: nil))
        let interrupted =
            Self.frame(type: 0x1, stream: 1, Array(Self.request.prefix(4))) + Self.settings
        #expect(classify(Self.preface + interrupted) == .http2(authority: nil))
        #expect(
            classify(Self.preface + Self.frame(type: 0x1, flags: 0x4 | 0x8, stream: 1, [200, 1]))
                == .http2(authority: nil))
        #expect(
            classify(Self.preface + Self.frame(type: 0x1, flags: 0x4, stream: 1, [0xFF, 0xFF, 0xFF]))
                == .http2(authority: nil))
    }

    @Test func prefaceAloneIsHTTP2WhenNothingMoreComes() {
        #expect(
            ProtocolSniffer.classifyFinal(ByteBuffer(bytes: Self.preface + Self.settings)) == .http2(authority: nil))
        #expect(ProtocolSniffer.classifyFinal(ByteBuffer(bytes: Array(Self.preface.prefix(10)))) == .opaque)
    }
}
