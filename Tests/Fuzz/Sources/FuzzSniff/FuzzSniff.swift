import FuzzSupport
import NIOCore

@testable import Sniff

/// `ProtocolSniffer.classify` on arbitrary first bytes. The sniff handler classifies whatever has arrived so far
/// and stops at the first answer other than `.needMore`, so the answer must not depend on how TCP cut the
/// bytes: every prefix classifies as `.needMore` or as the whole input does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let whole = ProtocolSniffer.classify(bytes: bytes)
    invariant(ProtocolSniffer.classify(ByteBuffer(bytes: bytes)) == whole, "ByteBuffer and raw bytes disagree")
    for cut in cuts(count: count, bytes: bytes) {
        let prefix = ProtocolSniffer.classify(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<cut]))
        invariant(
            prefix == .needMore || prefix == whole, "prefix of \(cut) bytes is \(prefix), all \(count) are \(whole)")
    }
    return 0
}

/// Every prefix of a short input; for a longer one (each prefix costs a classification) the first 32, 32 more
/// spread over the rest, and the places where the answer can change: around the first line ends, a TLS
/// record's end and the length limits.
private func cuts(count: Int, bytes: UnsafeRawBufferPointer) -> Set<Int> {
    guard count > 64 else { return Set(0..<count) }
    var cuts = Set(0..<32)
    cuts.formUnion(stride(from: 32, to: count, by: max(1, count / 32)))
    var marks = [ProtocolSniffer.maxRequestLine, TLSClientHello.maxRecord + 5]
    if bytes[0] == 0x16 { marks.append(5 + (Int(bytes[3]) << 8 | Int(bytes[4]))) }
    marks += bytes.indices.lazy.filter { bytes[$0] == UInt8(ascii: "\n") }.prefix(2)
    for mark in marks {
        cuts.formUnion((mark - 1...mark + 1).filter { $0 > 0 && $0 < count })
    }
    return cuts
}
