/// Field names Mesher acts on, recognised without building a String.
enum HTTP1FieldNames {
    static func kind(of name: UnsafeRawBufferPointer.SubSequence, role: HTTP1HeadParser.Role) -> HTTP1Head.FieldKind {
        let eq = HTTP1Syntax.equalsLowercase
        switch name.count {
        case 2: return eq(name, "te") ? .te : eq(name, "b3") ? .b3 : .other
        case 4: return role == .request && eq(name, "host") ? .host : .other
        case 6: return eq(name, "expect") ? .expect : .other
        case 7: return eq(name, "upgrade") ? .upgrade : .other
        case 10:
            if eq(name, "connection") { return .connection }
            if eq(name, "keep-alive") { return .keepAlive }
            return eq(name, "tracestate") ? .traceState : eq(name, "x-b3-flags") ? .b3 : .other
        case 11: return eq(name, "traceparent") ? .traceParent : eq(name, "x-b3-spanid") ? .b3 : .other
        case 12:
            if eq(name, "x-mesher-hop") { return .mesherHop }
            return eq(name, "x-b3-traceid") || eq(name, "x-b3-sampled") ? .b3 : .other
        case 14: return eq(name, "content-length") ? .contentLength : .other
        case 15: return eq(name, "x-forwarded-for") ? .forwardedFor : .other
        case 16: return eq(name, "proxy-connection") ? .proxyConnection : .other
        case 17:
            if eq(name, "transfer-encoding") { return .transferEncoding }
            return eq(name, "x-b3-parentspanid") ? .b3 : .other
        default: return .other
        }
    }
}

/// What the fields Mesher acts on mean, checked as they are read.
enum FieldSemantics {
    typealias Bytes = UnsafeRawBufferPointer.SubSequence

    static func apply(_ kind: HTTP1Head.FieldKind, value: Bytes, to head: inout HTTP1Head) throws(HTTP1ParseError) {
        switch kind {
        case .host:
            guard head.hostField == nil else { throw .duplicateHost }
            guard HTTP1Syntax.isAuthority(value) else { throw .invalidHost }
        case .contentLength:
            guard head.contentLength == nil else { throw .duplicateContentLength }
            // 1*DIGIT and nothing else: no sign, no list ("5, 5"), no space; 18 digits cannot overflow.
            guard (1...18).contains(value.count), value.allSatisfy(HTTP1Syntax.isDigit) else {
                throw .invalidContentLength
            }
            head.contentLength = value.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        case .transferEncoding:
            guard !head.isChunked, HTTP1Syntax.equalsLowercase(value, "chunked") else {
                throw .unsupportedTransferEncoding
            }
            head.isChunked = true
        case .connection:
            try connectionOptions(value, into: &head)
        case .expect:
            if HTTP1Syntax.equalsLowercase(value, "100-continue") { head.expectsContinue = true }
        case .upgrade:
            head.upgradeField = true
        case .mesherHop:
            guard (1...3).contains(value.count), value.allSatisfy(HTTP1Syntax.isDigit) else {
                throw .invalidFieldValue
            }
            head.hops = max(head.hops, value.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) })
        case .other, .keepAlive, .proxyConnection, .te, .forwardedFor, .traceParent, .traceState, .b3:
            break
        }
    }

    /// `Connection: 1#token`: `close`, `keep-alive`, `upgrade`, or the name of a field to drop.
    private static func connectionOptions(_ value: Bytes, into head: inout HTTP1Head) throws(HTTP1ParseError) {
        var index = value.startIndex
        while index < value.endIndex {
            let byte = value[index]
            if byte == UInt8(ascii: ",") || HTTP1Syntax.isWhitespace(byte) {
                index += 1
                continue
            }
            let start = index
            while index < value.endIndex && HTTP1Syntax.token[Int(value[index])] { index += 1 }
            guard index > start else { throw .invalidConnection }
            let option = value[start..<index]
            if HTTP1Syntax.equalsLowercase(option, "close") {
                head.connectionClose = true
            } else if HTTP1Syntax.equalsLowercase(option, "keep-alive") {
                head.connectionKeepAlive = true
            } else if HTTP1Syntax.equalsLowercase(option, "upgrade") {
                head.connectionUpgrade = true
            } else {
                head.connectionNames.append(start..<index)
            }
            while index < value.endIndex && HTTP1Syntax.isWhitespace(value[index]) { index += 1 }
            guard index == value.endIndex || value[index] == UInt8(ascii: ",") else { throw .invalidConnection }
        }
    }
}

/// The request target's form, checked against the method (RFC 9112 §3.2).
enum TargetSyntax {
    static func form(of target: UnsafeRawBufferPointer.SubSequence, isConnect: Bool, isOptions: Bool)
        throws(HTTP1ParseError) -> HTTP1Head.TargetForm
    {
        if isConnect {
            // host:port, nothing else.
            guard let colon = target.lastIndex(of: UInt8(ascii: ":")), colon > target.startIndex,
                colon + 1 < target.endIndex, target.last != UInt8(ascii: "]"), HTTP1Syntax.isAuthority(target)
            else { throw .invalidTarget }
            return .authority
        }
        if target.first == UInt8(ascii: "/") { return .origin }
        if target.count == 1 && target.first == UInt8(ascii: "*") {
            guard isOptions else { throw .invalidTarget }
            return .asterisk
        }
        // absolute-form: http:// or https://, an authority without userinfo, then a path, a query or nothing.
        let start = target.startIndex
        let schemeLength: Int
        if target.count > 7 && HTTP1Syntax.equalsLowercase(target[start..<(start + 7)], "http://") {
            schemeLength = 7
        } else if target.count > 8 && HTTP1Syntax.equalsLowercase(target[start..<(start + 8)], "https://") {
            schemeLength = 8
        } else {
            throw .invalidTarget
        }
        let rest = target[(start + schemeLength)...]
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.isEmpty, HTTP1Syntax.isAuthority(authority) else { throw .invalidTarget }
        return .absolute(authority: authority.startIndex..<authorityEnd, path: authorityEnd..<target.endIndex)
    }
}
