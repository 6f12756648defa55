import NIOCore

/// The trailer section after the last chunk: field lines like a head's, then a blank line.
enum HTTP1Trailers {
    /// The trailer fields worth forwarding as `name: value\r\n` lines (empty for none), nil while incomplete.
    /// `scanned` keeps the search position between reads.
    static func read(_ buffer: inout ByteBuffer, scanned: inout Int, limits: HTTP1HeadParser.Limits)
        -> Result<ByteBuffer?, HTTP1ParseError>
    {
        let found: Result<Int?, HTTP1ParseError> = buffer.withUnsafeReadableBytes { bytes in
            // No trailers: the blank line at once.
            if bytes.count >= 2 && bytes[0] == UInt8(ascii: "\r") && bytes[1] == UInt8(ascii: "\n") {
                return .success(2)
            }
            var index = scanned
            while index < min(bytes.count, limits.maxHeadBytes + 1) {
                let byte = bytes[index]
                if index > 0 && bytes[index - 1] == UInt8(ascii: "\r") && byte != UInt8(ascii: "\n") {
                    return .failure(.bareLineEnding)
                }
                if byte == UInt8(ascii: "\n") {
                    guard index > 0 && bytes[index - 1] == UInt8(ascii: "\r") else { return .failure(.bareLineEnding) }
                    if index >= 3 && bytes[index - 2] == UInt8(ascii: "\n") { return .success(index + 1) }
                }
                index += 1
            }
            if bytes.count > limits.maxHeadBytes { return .failure(.headTooLarge) }
            scanned = max(0, index - 1)
            return .success(nil)
        }
        switch found {
        case .failure(let error): return .failure(error)
        case .success(nil): return .success(nil)
        case .success(let length?):
            scanned = 0
            let section = buffer.readSlice(length: length)!
            return section.withUnsafeReadableBytes { fields(in: $0, limits: limits) }.map { $0 }
        }
    }

    /// Each line checked as a field line; framing, routing and connection fields are left out (RFC 9110 §6.5.1).
    private static func fields(in bytes: UnsafeRawBufferPointer, limits: HTTP1HeadParser.Limits)
        -> Result<ByteBuffer, HTTP1ParseError>
    {
        var out = ByteBuffer()
        var count = 0
        var lineStart = 0
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\r") && index > lineStart {
            let line = bytes[lineStart..<index]
            lineStart = index + 2
            count += 1
            guard count <= limits.maxFields else { return .failure(.tooManyFields) }
            if line.first == UInt8(ascii: " ") || line.first == UInt8(ascii: "\t") {
                return .failure(.obsoleteLineFolding)
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                line[..<colon].allSatisfy({ HTTP1Syntax.token[Int($0)] })
            else { return .failure(.invalidFieldName) }
            var value = line[(colon + 1)...]
            while let first = value.first, HTTP1Syntax.isWhitespace(first) { value = value.dropFirst() }
            while let last = value.last, HTTP1Syntax.isWhitespace(last) { value = value.dropLast() }
            guard value.allSatisfy({ HTTP1Syntax.fieldValue[Int($0)] }) else { return .failure(.invalidFieldValue) }
            guard HTTP1FieldNames.kind(of: line[..<colon], role: .request) == .other,
                !HTTP1Syntax.equalsLowercase(line[..<colon], "trailer")
            else { continue }
            out.writeBytes(line[..<colon])
            out.writeStaticString(": ")
            out.writeBytes(value)
            out.writeStaticString("\r\n")
        }
        return .success(out)
    }
}
