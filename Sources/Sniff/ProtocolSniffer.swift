import NIOCore

/// What the first bytes of a connection say about its protocol.
public enum SniffResult: Equatable, Sendable {
    /// An HTTP/1.x request line.
    case http
    /// A TLS ClientHello, with its server name (SNI) when it has one.
    case tls(serverName: String?)
    /// The HTTP/2 prior-knowledge preface.
    case http2
    /// Anything else: relay as opaque TCP.
    case opaque
    /// The bytes so far are the start of a known protocol: wait for more (or for the sniff window to end).
    case needMore
}

/// Classifies a connection from the bytes the client sent first, without consuming them.
public enum ProtocolSniffer {
    /// A request line longer than this is not worth waiting for.
    static let maxRequestLine = 8192
    /// Each method with the space after it.
    static let methods: [[UInt8]] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
        .map { Array("\($0) ".utf8) }
    static let version = Array("HTTP/1.".utf8)
    static let http2Preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    public static func classify(_ buffer: ByteBuffer) -> SniffResult {
        buffer.withUnsafeReadableBytes { classify(bytes: $0) }
    }

    static func classify(bytes: UnsafeRawBufferPointer) -> SniffResult {
        guard let first = bytes.first else { return .needMore }
        if first == 0x16 { return TLSClientHello.classify(bytes) }
        if first == UInt8(ascii: "P"), isPrefix(bytes, of: http2Preface) {
            return bytes.count >= http2Preface.count ? .http2 : .needMore
        }
        return classifyRequestLine(bytes)
    }

    /// "METHOD SP request-target SP HTTP/1.x CRLF": the whole line, so that a text protocol that happens
    /// to start with "GET " (Redis inline commands) is not mistaken for HTTP.
    private static func classifyRequestLine(_ bytes: UnsafeRawBufferPointer) -> SniffResult {
        guard let method = methods.first(where: { isPrefix(bytes, of: $0) }) else { return .opaque }
        guard bytes.count > method.count else { return .needMore }
        // The line end is looked for within the limit only, so that the answer does not depend on how many
        // bytes the first reads happened to bring.
        guard let lineEnd = bytes.prefix(maxRequestLine).firstIndex(of: UInt8(ascii: "\n")) else {
            return bytes.count < maxRequestLine ? .needMore : .opaque
        }
        var line = bytes[..<lineEnd]
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        // Room for the method and " HTTP/1.x".
        guard line.count >= method.count + 1 + version.count + 1 else { return .opaque }
        let tail = line.suffix(version.count + 2)
        let isVersion =
            tail.first == UInt8(ascii: " ") && tail.dropFirst().prefix(version.count).elementsEqual(version)
            && (tail.last == UInt8(ascii: "0") || tail.last == UInt8(ascii: "1"))
        return isVersion ? .http : .opaque
    }

    /// Whether `bytes` and `pattern` agree on their common length.
    static func isPrefix(_ bytes: UnsafeRawBufferPointer, of pattern: [UInt8]) -> Bool {
        zip(bytes, pattern).allSatisfy { $0 == $1 }
    }
}
