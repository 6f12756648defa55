import FuzzSupport
import HTTP1
import NIOCore

@testable import Proxy

/// The HTTP/1 parser on arbitrary bytes, as requests or responses (first byte's low bit), and the head Mesher
/// writes upstream for each request it accepts.
/// - The reading does not depend on how TCP cut the bytes: fed whole and in pieces (first byte's other bits),
///   the messages, their bodies and the point and kind of failure are the same.
/// - What Mesher forwards parses back as what it parsed: the same method, target (origin form), framing, and
///   the fields it keeps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 1 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let role: HTTP1HeadParser.Role = bytes[0] & 1 == 0 ? .request : .response
    let step = Int(bytes[0] >> 1) + 1
    let input = Array(bytes.dropFirst())
    let whole = Reading(input, role: role, step: input.count)
    let pieces = Reading(input, role: role, step: step)
    invariant(whole.summary == pieces.summary, "whole: \(whole.summary)\npieces of \(step): \(pieces.summary)")
    if role == .request {
        for head in whole.heads { checkForwarded(head) }
    }
    return 0
}

private let limits = HTTP1HeadParser.Limits(maxHeadBytes: 2048, maxFields: 24)

/// Messages read from `input`, given `step` bytes at a time.
private struct Reading {
    var heads: [HTTP1Head] = []
    var summary: [String] = []

    init(_ input: [UInt8], role: HTTP1HeadParser.Role, step: Int) {
        var parser = HTTP1HeadParser(role: role, limits: limits)
        var buffer = ByteBuffer()
        var offset = 0
        var decoder: HTTP1BodyDecoder?
        var body: [UInt8] = []
        while true {
            if var current = decoder {
                let event = current.next(&buffer)
                decoder = current
                switch event {
                case .data(let data):
                    body += data.readableBytesView
                    continue
                case .end(let trailers):
                    summary.append(
                        "body \(body.count) \(body.hashValue) trailers \(trailers.map(String.init(buffer:)) ?? "-")")
                    decoder = nil
                    body = []
                    continue
                case .invalid(let error):
                    summary.append("body error \(error)")
                    return
                case .needMore:
                    break
                }
            } else {
                switch parser.parse(&buffer) {
                case .head(let head):
                    heads.append(head)
                    let framing =
                        role == .request ? head.requestFraming : head.responseFraming(toHEAD: false, toCONNECT: false)
                    summary.append("head \(String(buffer: head.bytes).hashValue) \(framing)")
                    decoder = HTTP1BodyDecoder(framing: framing, limits: limits)
                    continue
                case .invalid(let error):
                    summary.append("head error \(error)")
                    return
                case .needMore:
                    break
                }
            }
            guard offset < input.count else {
                if var current = decoder, case .end = current.endOfInput() { summary.append("ended by close") }
                return
            }
            let end = min(input.count, offset + step)
            buffer.writeBytes(input[offset..<end])
            offset = end
        }
    }
}

/// The request head as Mesher sends it upstream, parsed again.
private func checkForwarded(_ head: HTTP1Head) {
    let authority = HTTPForwardHandler.authority(of: head) ?? "198.18.0.2:80"
    var sent = HTTPMessages.upstreamRequest(
        head, authority: authority, hops: head.hops + 1, forwardedFor: nil, upgrade: head.isUpgradeRequest)
    let text = String(buffer: sent)
    var parser = HTTP1HeadParser(role: .request, limits: .init(maxHeadBytes: 1 << 20, maxFields: 1000))
    guard case .head(let again) = parser.parse(&sent) else {
        return invariant(false, "Mesher's own head does not parse: \(text.debugDescription)")
    }
    invariant(sent.readableBytes == 0, "bytes after the head")
    invariant(again.method == head.method, "method changed")
    invariant(again.requestFraming == head.requestFraming, "framing changed: \(text.debugDescription)")
    invariant(again.host == authority, "Host is not the authority")
    invariant(again.version == .http11 && again.hops == head.hops + 1, "version or hops")
    switch head.targetForm {
    case .absolute(_, let path):
        let expected = head.string(path)
        invariant(again.target == (expected.hasPrefix("/") ? expected : "/" + expected), "absolute form path")
    case .origin, .authority, .asterisk:
        invariant(again.target == head.target, "target changed")
    }
    // Every field sent is one that came in (or one of Mesher's own), never a hop-by-hop one.
    for field in again.fields where !field.kind.isHopByHop || head.isUpgradeRequest {
        switch field.kind {
        case .host, .contentLength, .transferEncoding, .mesherHop, .connection, .upgrade: continue
        default:
            let pair = (again.string(field.name), again.string(field.value))
            invariant(
                head.fields.contains { head.string($0.name) == pair.0 && head.string($0.value) == pair.1 },
                "a field that did not come in: \(pair)")
        }
    }
}
