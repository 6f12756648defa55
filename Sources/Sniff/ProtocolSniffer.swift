import NIOCore

/// What the first bytes of a connection say about its protocol.
public enum SniffResult: Equatable, Sendable {
    /// An HTTP/1.x request line.
    case http
    /// A TLS ClientHello, with its server name (SNI) when it has one.
    case tls(serverName: String?)
    /// The HTTP/2 prior-knowledge preface, with the authority its first request names (when it came in time).
    case http2(authority: String?)
    /// Anything else: relay as opaque TCP.
    case opaque
    /// The bytes so far are the start of a known protocol: wait for more (or for the sniff window to end).
    case needMore
}

/// Classifies a connection from the bytes the client sent first, without consuming them.
public enum ProtocolSniffer {
    /// A request line longer than this is decided without waiting for its end.
    static let maxRequestLine = 8192
    static let http2Preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    public static func classify(_ buffer: ByteBuffer) -> SniffResult {
        buffer.withUnsafeReadableBytes { classify(bytes: $0) }
    }

    /// What the bytes are when no more will come in time: the start of a known protocol is no protocol, but
    /// for HTTP/2, whose first request may wait for the server's SETTINGS.
    public static func classifyFinal(_ buffer: ByteBuffer) -> SniffResult {
        let result = classify(buffer)
        guard result == .needMore else { return result }
        return hasHTTP2Preface(buffer) ? .http2(authority: nil) : .opaque
    }

    /// The whole HTTP/2 preface is here (what follows may not be yet: a gRPC client waits for the server's
    /// SETTINGS before its first request).
    public static func hasHTTP2Preface(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { $0.count >= http2Preface.count && isPrefix($0, of: http2Preface) }
    }

    static func classify(bytes: UnsafeRawBufferPointer) -> SniffResult {
        guard let first = bytes.first else { return .needMore }
        if first == 0x16 { return TLSClientHello.classify(bytes) }
        if first == UInt8(ascii: "P"), isPrefix(bytes, of: http2Preface) {
            guard bytes.count >= http2Preface.count else { return .needMore }
            switch HTTP2FirstRequest.authority(in: bytes[http2Preface.count...]) {
            case .needMore: return .needMore
            case .authority(let authority): return .http2(authority: authority)
            }
        }
        return classifyRequestLine(bytes)
    }

    /// `token SP request-target SP HTTP-version`, with any method (extension methods too) and the version's
    /// name in any case: whatever an HTTP server would read as a request goes to Mesher's parser, which
    /// refuses what it does not accept, rather than past the L7 path as opaque bytes. A text protocol whose
    /// commands start with a word (a Redis inline `GET key`) has no version at the end and stays opaque.
    private static func classifyRequestLine(_ bytes: UnsafeRawBufferPointer) -> SniffResult {
        var start = 0
        // Empty lines may come before a request line (RFC 9112 §2.2).
        while start + 1 < bytes.count && bytes[start] == cr && bytes[start + 1] == lf { start += 2 }
        if start + 1 == bytes.count && bytes[start] == cr { return .needMore }
        var index = start
        while index < bytes.count && isToken(bytes[index]) && index - start <= maxMethod { index += 1 }
        guard index < bytes.count else { return bytes.count - start <= maxMethod ? .needMore : .opaque }
        guard index > start, index - start <= maxMethod, bytes[index] == UInt8(ascii: " ") else { return .opaque }
        let targetStart = index + 1
        let limit = min(bytes.count, start + maxRequestLine)
        guard let lineEnd = bytes[targetStart..<limit].firstIndex(of: lf) else {
            guard limit - start >= maxRequestLine else { return .needMore }
            // A line this long that starts like a request target is a request, and too long for Mesher.
            let target = bytes[targetStart..<limit]
            return target.first == UInt8(ascii: "/") || isPrefix(target, caseInsensitive: "http") ? .http : .opaque
        }
        var line = bytes[targetStart..<lineEnd]
        if line.last == cr { line = line.dropLast() }
        guard let versionStart = line.lastIndex(of: UInt8(ascii: " ")) else { return .opaque }
        return isPrefix(line[(versionStart + 1)...], caseInsensitive: "http/") ? .http : .opaque
    }

    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")
    private static let maxMethod = 32

    private static func isToken(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"):
            true
        default: Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    /// Whether `bytes` starts with the lowercase `pattern`, ignoring ASCII case; shorter never matches.
    private static func isPrefix(_ bytes: UnsafeRawBufferPointer.SubSequence, caseInsensitive pattern: String) -> Bool {
        let expected = Array(pattern.utf8)
        guard bytes.count >= expected.count else { return false }
        return zip(bytes, expected).allSatisfy { $0 | 0x20 == $1 || $0 == $1 }
    }

    /// Whether `bytes` and `pattern` agree on their common length.
    static func isPrefix(_ bytes: UnsafeRawBufferPointer, of pattern: [UInt8]) -> Bool {
        zip(bytes, pattern).allSatisfy { $0 == $1 }
    }
}
