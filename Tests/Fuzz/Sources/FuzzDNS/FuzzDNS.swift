import FuzzSupport
import NIOCore
import NIOEmbedded

@testable import DNS

/// The input as one UDP query, and as a TCP byte stream cut into pieces: every message either fails to decode or
/// survives an encode and decode unchanged, and so do the replies Mesher builds for it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    checkMessage(ByteBuffer(bytes: bytes))
    for frame in checkTCPFraming(bytes) { checkMessage(frame) }
    return 0
}

/// Owns "accountservice", as the tests' registry does, so that local answers are built too.
private let responder = DNSQueryResponder(
    ttl: 5, searchDomains: ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"]
) { name in
    name == "accountservice" ? DNSServiceAnswer(ipv4: [240, 240, 0, 7], ipv6: Array(repeating: 7, count: 16)) : nil
}

private func checkMessage(_ packet: ByteBuffer) {
    guard let message = try? DNSMessage(decoding: packet) else { return }
    checkRoundTrip(message, "decoded message")
    if let answer = responder.localResponse(to: message) {
        invariant(answer.id == message.id && answer.questions == message.questions, "answer does not echo the query")
        checkRoundTrip(answer, "local answer", mustFitFrame: true)
    }
    let failure = DNSQueryProcessor.serverFailure(to: message)
    invariant(failure.readableBytes <= DNSMessage.maxLength, "SERVFAIL of \(failure.readableBytes) bytes")
    let decoded = try? DNSMessage(decoding: failure)
    invariant(decoded?.id == message.id && decoded?.flags.responseCode == .serverFailure, "SERVFAIL does not decode")
}

/// What Mesher builds must come out of the wire form unchanged. (Only the replies it builds have to fit a TCP frame:
/// a query is forwarded as it came.)
private func checkRoundTrip(_ message: DNSMessage, _ what: String, mustFitFrame: Bool = false) {
    let encoded = message.encoded
    let decoded = try? DNSMessage(decoding: encoded)
    invariant(
        decoded == message,
        "\(what) changes in an encode/decode round trip: \(message) -> \(String(describing: decoded))")
    invariant(decoded?.encoded == encoded, "\(what) encodes differently the second time")
    if mustFitFrame {
        invariant(encoded.readableBytes <= DNSMessage.maxLength, "\(what) does not fit a TCP frame")
    }
}

/// Returns the messages the TCP decoder yields, after checking them against a plain reading of the stream:
/// the same messages whatever the cuts, and a partial one at the end dropped.
private func checkTCPFraming(_ bytes: UnsafeRawBufferPointer) -> [ByteBuffer] {
    var expected: [ByteBuffer] = []
    var offset = 0
    while offset + 2 <= bytes.count {
        let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
        guard offset + 2 + length <= bytes.count else { break }
        expected.append(ByteBuffer(bytes: bytes[(offset + 2)..<(offset + 2 + length)]))
        offset += 2 + length
    }

    let channel = EmbeddedChannel(handler: DNSTCPFraming.decoder())
    var position = 0
    while position < bytes.count {
        // Piece sizes from the bytes themselves, so the fuzzer explores the cuts too.
        let size = 1 + Int(bytes[position]) % 61
        let end = min(bytes.count, position + size)
        _ = try? channel.writeInbound(ByteBuffer(bytes: bytes[position..<end]))
        position = end
    }
    _ = try? channel.finish()
    var frames: [ByteBuffer] = []
    while let frame = try? channel.readInbound(as: ByteBuffer.self) { frames.append(frame) }
    invariant(frames == expected, "TCP decoder yields \(frames.count) messages, the stream has \(expected.count)")
    return frames
}
