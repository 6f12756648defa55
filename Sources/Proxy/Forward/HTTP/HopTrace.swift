import HTTP1
import MesherBase
import NIOCore
import W3CTraceContext

/// One hop's part of a trace: the trace the request belongs to (from its `traceparent`, else its B3 fields,
/// else a new one), the span id this hop gives itself, and the caller's span as its parent. The request goes
/// on with this hop's span in `traceparent` (`tracestate` as it came) and in B3 when it came with B3, so that
/// the app's own spans hang below Mesher's, and the access log line names both ids.
struct HopTrace {
    let context: TraceContext
    /// The caller's span; `nil` when the trace starts here.
    let parent: SpanID?
    /// The request carried B3 fields: they go on too, rewritten.
    let propagatesB3: Bool

    init(request head: HTTP1Head, ids: inout FastRandom) {
        let spanID = SpanID.random(using: &ids)
        if let incoming = Self.traceParent(head) {
            context = TraceContext(
                traceID: incoming.traceID, spanID: spanID, flags: incoming.flags, state: incoming.state)
            parent = incoming.spanID
        } else if let b3 = Self.b3(head) {
            context = TraceContext(traceID: b3.traceID, spanID: spanID, flags: b3.flags, state: TraceState())
            parent = b3.spanID
        } else {
            // A new trace, sampled: Mesher records it in its log, and the app's tracer may follow the flag.
            context = TraceContext(
                traceID: .random(using: &ids), spanID: spanID, flags: .sampled, state: TraceState())
            parent = nil
        }
        propagatesB3 = head.fields.contains { $0.kind == .b3 }
    }

    /// The trace fields for the upstream request (the incoming ones are dropped by the writer).
    func write(to out: inout ByteBuffer) {
        // Written digit by digit: no string per request.
        out.writeStaticString("traceparent: 00-")
        Self.writeHex(context.traceID.bytes, to: &out)
        out.writeStaticString("-")
        Self.writeHex(context.spanID.bytes, to: &out)
        out.writeStaticString("-")
        Self.writeHex(context.flags.rawValue, to: &out)
        out.writeStaticString("\r\n")
        if let state = context.traceStateHeaderValue { HTTPMessages.writeField("tracestate", state, to: &out) }
        guard propagatesB3 else { return }
        HTTPMessages.writeField("x-b3-traceid", "\(context.traceID)", to: &out)
        HTTPMessages.writeField("x-b3-spanid", "\(context.spanID)", to: &out)
        if let parent { HTTPMessages.writeField("x-b3-parentspanid", "\(parent)", to: &out) }
        HTTPMessages.writeField("x-b3-sampled", context.flags.contains(.sampled) ? "1" : "0", to: &out)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// The bytes of `value` (a tuple of bytes, or one) as lowercase hex.
    private static func writeHex<T>(_ value: T, to out: inout ByteBuffer) {
        _ = withUnsafeBytes(of: value) { bytes in
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes.count * 2) { target in
                for (index, byte) in bytes.enumerated() {
                    target[2 * index] = hexDigits[Int(byte >> 4)]
                    target[2 * index + 1] = hexDigits[Int(byte & 0x0f)]
                }
                return bytes.count * 2
            }
        }
    }

    /// Exactly one valid `traceparent` (W3C: several, or an invalid one, start a new trace), with its
    /// `tracestate` when that is valid (else it is dropped, as W3C allows).
    private static func traceParent(_ head: HTTP1Head) -> TraceContext? {
        let values = head.values(of: .traceParent)
        guard values.count == 1, let value = versionZero(values[0]) else { return nil }
        let state = head.values(of: .traceState).joined(separator: ",")
        if !state.isEmpty,
            let context = try? TraceContext(traceParentHeaderValue: value, traceStateHeaderValue: state)
        {
            return context
        }
        return try? TraceContext(traceParentHeaderValue: value)
    }

    /// `value` in version 00, which the decoder reads. A later version (not `ff`, invalid) continues its trace by
    /// its first four fields and the sampled flag, whatever follows a dash behind them (W3C Trace Context
    /// §3.2.4); version 00 is left as it came, to be exactly 55 characters.
    static func versionZero(_ value: String) -> String? {
        let bytes = Array(value.utf8)
        if bytes.count < 55 || bytes.starts(with: "00".utf8) { return value }
        guard let version = hexByte(bytes[0], bytes[1]), version != 0xff, let flags = hexByte(bytes[53], bytes[54]),
            bytes.count == 55 || bytes[55] == UInt8(ascii: "-")
        else { return nil }
        return "00" + String(decoding: bytes[2..<53], as: UTF8.self) + (flags & 1 == 1 ? "01" : "00")
    }

    /// Two lowercase hex digits (W3C: `HEXDIGLC`).
    private static func hexByte(_ high: UInt8, _ low: UInt8) -> UInt8? {
        let uppercase = UInt8(ascii: "A")...UInt8(ascii: "F")
        guard !uppercase.contains(high), !uppercase.contains(low), let high = HTTP1Syntax.hexValue(high),
            let low = HTTP1Syntax.hexValue(low)
        else { return nil }
        return UInt8(high << 4 | low)
    }

    /// B3, multi (`x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`) or single (`b3: trace-span[-sampled]`); a
    /// 64-bit trace id is padded to 128 bits. Read through `traceparent`'s decoder, which checks the hex.
    private static func b3(_ head: HTTP1Head) -> TraceContext? {
        var fields: [String: String] = [:]
        for (name, value) in head.namedValues(of: .b3) { fields[name] = value }
        var traceID = fields["x-b3-traceid"]
        var spanID = fields["x-b3-spanid"]
        var sampled = fields["x-b3-flags"] == "1" || fields["x-b3-sampled"] != "0"
        if traceID == nil, let single = fields["b3"] {
            let parts = single.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count >= 2 else { return nil }
            (traceID, spanID) = (String(parts[0]), String(parts[1]))
            if parts.count >= 3 { sampled = parts[2] != "0" }
        }
        guard var traceID, let spanID, spanID.count == 16, traceID.count == 16 || traceID.count == 32 else {
            return nil
        }
        if traceID.count == 16 { traceID = String(repeating: "0", count: 16) + traceID }
        let flags = sampled ? "01" : "00"
        return try? TraceContext(traceParentHeaderValue: "00-\(traceID.lowercased())-\(spanID.lowercased())-\(flags)")
    }
}

/// One event loop's generator of ids, shared by its connections.
final class TraceIDs {
    var generator = FastRandom()
}
