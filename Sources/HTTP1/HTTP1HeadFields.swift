import NIOCore

/// The second pass over a complete head (line endings already checked): start line, fields, and the rules
/// that tie them together. Offsets are from the start of the head.
struct HeadFields {
    typealias Bytes = UnsafeRawBufferPointer.SubSequence

    let head: ByteBuffer
    let role: HTTP1HeadParser.Role
    let limits: HTTP1HeadParser.Limits

    init(bytes: ByteBuffer, role: HTTP1HeadParser.Role, limits: HTTP1HeadParser.Limits) {
        self.head = bytes
        self.role = role
        self.limits = limits
    }

    func parse() throws(HTTP1ParseError) -> HTTP1Head {
        let result: Result<HTTP1Head, HTTP1ParseError> = head.withUnsafeReadableBytes { all in
            do throws(HTTP1ParseError) {
                return .success(try parse(all[...]))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private func parse(_ all: Bytes) throws(HTTP1ParseError) -> HTTP1Head {
        var parsed: HTTP1Head?
        var lineStart = 0
        var offset = 0
        while offset < all.count {
            guard all[offset] == UInt8(ascii: "\r") else {
                offset += 1
                continue
            }
            let line = all[lineStart..<offset]
            offset += 2
            lineStart = offset
            if parsed == nil {
                parsed = try role == .request ? requestLine(line) : statusLine(line)
            } else if !line.isEmpty {
                guard parsed!.fields.count < limits.maxFields else { throw .tooManyFields }
                try field(line, into: &parsed!)
            }
        }
        guard var parsed else { throw .invalidStartLine }
        try checkMessage(&parsed, all)
        return parsed
    }

    // MARK: - Start line

    /// `method SP request-target SP HTTP-version`, single spaces.
    private func requestLine(_ line: Bytes) throws(HTTP1ParseError) -> HTTP1Head {
        guard let methodEnd = line.firstIndex(of: UInt8(ascii: " ")), methodEnd > line.startIndex,
            line[..<methodEnd].allSatisfy({ HTTP1Syntax.token[Int($0)] })
        else { throw .invalidStartLine }
        let rest = line[(methodEnd + 1)...]
        guard let targetEnd = rest.firstIndex(of: UInt8(ascii: " ")), targetEnd > rest.startIndex else {
            throw .invalidStartLine
        }
        guard rest[..<targetEnd].allSatisfy({ HTTP1Syntax.target[Int($0)] }) else { throw .invalidTarget }
        let version = try Self.version(line[(targetEnd + 1)...])
        let method = line.startIndex..<methodEnd
        return HTTP1Head(
            bytes: head, startLine: .request(method: method, target: (methodEnd + 1)..<targetEnd), version: version)
    }

    /// `HTTP-version SP 3DIGIT [SP reason-phrase]`; the reason may be left out with its space (common enough).
    private func statusLine(_ line: Bytes) throws(HTTP1ParseError) -> HTTP1Head {
        let start = line.startIndex
        guard line.count >= 12 else { throw .invalidStatus }
        let version = try Self.version(line[start..<(start + 8)])
        let digits = line[(start + 9)..<(start + 12)]
        guard line[start + 8] == UInt8(ascii: " "), digits.allSatisfy(HTTP1Syntax.isDigit) else {
            throw .invalidStatus
        }
        let status = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard (100...599).contains(status) else { throw .invalidStatus }
        var reason = (start + 12)..<(start + 12)
        if line.count > 12 {
            guard line[start + 12] == UInt8(ascii: " "),
                line[(start + 13)...].allSatisfy({ HTTP1Syntax.fieldValue[Int($0)] })
            else { throw .invalidStatus }
            reason = (start + 13)..<line.endIndex
        }
        return HTTP1Head(bytes: head, startLine: .response(status: status, reason: reason), version: version)
    }

    private static func version(_ bytes: Bytes) throws(HTTP1ParseError) -> HTTP1Version {
        guard bytes.count == 8 else { throw .invalidStartLine }
        let start = bytes.startIndex
        if HTTP1Syntax.equals(bytes[start..<(start + 7)], "HTTP/1.") {
            switch bytes[start + 7] {
            case UInt8(ascii: "1"): return .http11
            case UInt8(ascii: "0"): return .http10
            default: break
            }
        }
        // Well-formed but not 1.0 or 1.1 (HTTP/2.0, HTTP/1.2): 505; anything else is not HTTP at all.
        let isWellFormed =
            HTTP1Syntax.equals(bytes[start..<(start + 5)], "HTTP/") && HTTP1Syntax.isDigit(bytes[start + 5])
            && bytes[start + 6] == UInt8(ascii: ".") && HTTP1Syntax.isDigit(bytes[start + 7])
        throw isWellFormed ? .unsupportedVersion : .invalidStartLine
    }

    // MARK: - Fields

    /// `field-name ":" OWS field-value OWS`: no whitespace before the colon, no CTL in the value.
    private func field(_ line: Bytes, into parsed: inout HTTP1Head) throws(HTTP1ParseError) {
        if line.first == UInt8(ascii: " ") || line.first == UInt8(ascii: "\t") { throw .obsoleteLineFolding }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
            line[..<colon].allSatisfy({ HTTP1Syntax.token[Int($0)] })
        else { throw .invalidFieldName }
        var valueStart = colon + 1
        var valueEnd = line.endIndex
        while valueStart < valueEnd && HTTP1Syntax.isWhitespace(line[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart && HTTP1Syntax.isWhitespace(line[valueEnd - 1]) { valueEnd -= 1 }
        let value = line[valueStart..<valueEnd]
        guard value.allSatisfy({ HTTP1Syntax.fieldValue[Int($0)] }) else { throw .invalidFieldValue }
        let kind = HTTP1FieldNames.kind(of: line[..<colon], role: role)
        try FieldSemantics.apply(kind, value: value, to: &parsed)
        if kind == .host { parsed.hostField = parsed.fields.count }
        parsed.fields.append(.init(name: line.startIndex..<colon, value: valueStart..<valueEnd, kind: kind))
    }

    // MARK: - The message as a whole

    private func checkMessage(_ parsed: inout HTTP1Head, _ all: Bytes) throws(HTTP1ParseError) {
        if parsed.isChunked && parsed.contentLength != nil { throw .contentLengthWithTransferEncoding }
        if parsed.isChunked && parsed.version == .http10 { throw .transferEncodingInHTTP10 }
        guard case .request(let method, let target) = parsed.startLine else { return }
        if parsed.version == .http11 && parsed.hostField == nil { throw .missingHost }
        let hasBody = parsed.isChunked || (parsed.contentLength ?? 0) > 0
        // TRACE must not have content (RFC 9110 §9.3.8); CONNECT's would be read as the tunnel's first bytes by
        // some and as a body by others.
        if hasBody && (HTTP1Syntax.equals(all[method], "TRACE") || HTTP1Syntax.equals(all[method], "CONNECT")) {
            throw .bodyNotAllowed
        }
        parsed.targetForm = try TargetSyntax.form(
            of: all[target], isConnect: HTTP1Syntax.equals(all[method], "CONNECT"),
            isOptions: HTTP1Syntax.equals(all[method], "OPTIONS"))
    }
}
