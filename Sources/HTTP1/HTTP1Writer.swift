import NIOCore

extension HTTP1Head {
    /// Copies field `index` as `name: value\r\n`, as it was received (value without surrounding whitespace).
    public func writeField(_ index: Int, to out: inout ByteBuffer) {
        let field = fields[index]
        bytes.withUnsafeReadableBytes { all in
            out.writeBytes(all[field.name])
            out.writeStaticString(": ")
            out.writeBytes(all[field.value])
            out.writeStaticString("\r\n")
        }
    }

    /// Writes the bytes of `range` (a part of the start line, a value).
    public func write(_ range: Range<Int>, to out: inout ByteBuffer) {
        bytes.withUnsafeReadableBytes { _ = out.writeBytes($0[range]) }
    }

    /// Copies the fields that are forwarded: end to end, and not named by `Connection` (RFC 9110 §7.6.1). A
    /// head naming many fields costs one set, not a scan per name.
    /// `droppingNames`: more fields to leave out, by lowercased name (a route's header edits).
    public func writeForwardedFields(
        to out: inout ByteBuffer, droppingNames: Set<[UInt8]> = [], dropping dropped: (FieldKind) -> Bool
    ) {
        let named: Set<[UInt8]> =
            connectionNames.isEmpty
            ? droppingNames
            : droppingNames.union(connectionNames.map { range in withBytes(range) { $0.map(HTTP1Syntax.lowercase) } })
        bytes.withUnsafeReadableBytes { all in
            for field in fields where !field.kind.isHopByHop && !dropped(field.kind) {
                if !named.isEmpty && named.contains(all[field.name].map(HTTP1Syntax.lowercase)) { continue }
                out.writeBytes(all[field.name])
                out.writeStaticString(": ")
                out.writeBytes(all[field.value])
                out.writeStaticString("\r\n")
            }
        }
    }

    /// How a response's body is delimited, given the request it answers (RFC 9112 §6.3): never a body for
    /// HEAD, 1xx, 204, 304 or a successful CONNECT, whatever the fields say.
    public func responseFraming(toHEAD isHEAD: Bool, toCONNECT isCONNECT: Bool) -> Framing {
        let status = self.status
        if isHEAD || status < 200 || status == 204 || status == 304 || (isCONNECT && status < 300) { return .none }
        if isChunked { return .chunked }
        if let contentLength { return .contentLength(contentLength) }
        return .untilClose
    }

    /// A request's body framing: chunked, a length, or none.
    public var requestFraming: Framing {
        if isChunked { return .chunked }
        if let contentLength { return .contentLength(contentLength) }
        return .none
    }
}

/// Chunked framing of what Mesher forwards.
public enum HTTP1Chunk {
    /// `size CRLF`, to write before a chunk's data.
    public static func header(size: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var header = allocator.buffer(capacity: 18)
        header.writeString(String(size, radix: 16))
        header.writeStaticString("\r\n")
        return header
    }

    /// After a chunk's data.
    public static let dataEnd = ByteBuffer(staticString: "\r\n")

    /// The last chunk, the trailer fields and the blank line.
    public static func last(trailers: ByteBuffer?) -> ByteBuffer {
        guard var trailers else { return ByteBuffer(staticString: "0\r\n\r\n") }
        var out = ByteBuffer(staticString: "0\r\n")
        out.writeBuffer(&trailers)
        out.writeStaticString("\r\n")
        return out
    }
}
