import NIOCore

/// HTTP/1.0 or HTTP/1.1: no other version is accepted on the wire.
public enum HTTP1Version: Sendable {
    case http10, http11
}

/// One parsed message head, request or response. Nothing is copied out of the received bytes: the start
/// line and every field are ranges of `bytes`, and the fields Mesher acts on are classified once.
public struct HTTP1Head {
    /// The fields whose meaning Mesher needs (framing, connection management, routing, its own).
    public enum FieldKind: Sendable {
        case other
        case host, contentLength, transferEncoding, connection, keepAlive, proxyConnection, te, upgrade
        case expect, mesherHop, forwardedFor
        /// W3C trace context (`traceparent`, `tracestate`) and B3 (`b3`, `x-b3-*`): each hop writes its own.
        case traceParent, traceState, b3

        /// Hop-by-hop (RFC 9110 §7.6.1): about one connection, never forwarded as they came.
        public var isHopByHop: Bool {
            switch self {
            case .connection, .keepAlive, .proxyConnection, .te, .transferEncoding, .upgrade: true
            default: false
            }
        }
    }

    public struct Field: Sendable {
        public var name: Range<Int>
        public var value: Range<Int>
        public var kind: FieldKind
    }

    public enum StartLine: Sendable {
        case request(method: Range<Int>, target: Range<Int>)
        case response(status: Int, reason: Range<Int>)
    }

    /// The request target's form (RFC 9112 §3.2).
    public enum TargetForm: Equatable, Sendable {
        /// `/path?query`: the usual one.
        case origin
        /// `http://authority/path`: explicit-proxy clients. The authority wins over Host (RFC 9112 §3.2.2);
        /// `path` starts at `/` or `?`, or is empty.
        case absolute(authority: Range<Int>, path: Range<Int>)
        /// `host:port`, CONNECT only.
        case authority
        /// `*`, OPTIONS only.
        case asterisk
    }

    /// How the body of a message is delimited.
    public enum Framing: Equatable, Sendable {
        /// No body at all.
        case none
        case contentLength(Int)
        case chunked
        /// A response body that ends when the upstream closes the connection.
        case untilClose
    }

    /// From the start line to the blank line, both included; every range is an index into it.
    public var bytes: ByteBuffer
    public var startLine: StartLine
    public var version: HTTP1Version
    public var fields: [Field]
    public var targetForm = TargetForm.origin
    public var contentLength: Int?
    public var isChunked = false
    /// `Connection: close`, `keep-alive` and `upgrade`; other options name fields to drop.
    public var connectionClose = false
    public var connectionKeepAlive = false
    public var connectionUpgrade = false
    public var connectionNames: [Range<Int>] = []
    /// The index in `fields` of the one Host field.
    public var hostField: Int?
    /// An `Upgrade` field is present.
    public var upgradeField = false
    public var expectsContinue = false
    /// The `x-mesher-hop` count of the Meshers before this one; 0 without the field.
    public var hops = 0

    init(bytes: ByteBuffer, startLine: StartLine, version: HTTP1Version) {
        self.bytes = bytes
        self.startLine = startLine
        self.version = version
        // Most heads have fewer: one allocation instead of growing 1, 2, 4, 8.
        self.fields = []
        self.fields.reserveCapacity(16)
    }

    public func string(_ range: Range<Int>) -> String {
        bytes.getString(at: bytes.readerIndex + range.lowerBound, length: range.count) ?? ""
    }

    /// Whether the sender wants the connection kept open after this message.
    public var keepAlive: Bool {
        switch version {
        case .http11: !connectionClose
        case .http10: connectionKeepAlive && !connectionClose
        }
    }

    /// Whether this request asks to switch protocols (WebSocket, h2c, ...).
    public var isUpgradeRequest: Bool { connectionUpgrade && upgradeField }

    /// The values of the fields of `kind`, in order.
    public func values(of kind: FieldKind) -> [String] {
        fields.filter { $0.kind == kind }.map { string($0.value) }
    }

    /// The fields of `kind`, names lowercased.
    public func namedValues(of kind: FieldKind) -> [(name: String, value: String)] {
        fields.filter { $0.kind == kind }.map { (string($0.name).lowercased(), string($0.value)) }
    }

    /// Whether a field named `name` (lowercase ASCII bytes) has a value for which `test` holds; no copy is made.
    public func containsField(
        named name: [UInt8], where test: (UnsafeRawBufferPointer.SubSequence) -> Bool = { _ in true }
    ) -> Bool {
        bytes.withUnsafeReadableBytes { all in
            fields.contains { field in
                field.name.count == name.count
                    && zip(all[field.name], name).allSatisfy { HTTP1Syntax.lowercase($0) == $1 }
                    && test(all[field.value])
            }
        }
    }

    /// Calls `body` with the bytes of `range`.
    public func withBytes<T>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer.SubSequence) -> T) -> T {
        bytes.withUnsafeReadableBytes { body($0[range]) }
    }
}

extension HTTP1Head {
    public var method: String {
        guard case .request(let method, _) = startLine else { return "" }
        return string(method)
    }

    /// The request target as it came: origin form (`/path?query`), absolute form, authority form (CONNECT)
    /// or `*`.
    public var target: String {
        guard case .request(_, let target) = startLine else { return "" }
        return string(target)
    }

    public var status: Int {
        guard case .response(let status, _) = startLine else { return 0 }
        return status
    }

    public func isMethod(_ name: StaticString) -> Bool {
        guard case .request(let method, _) = startLine else { return false }
        return withBytes(method) { bytes in
            bytes.count == name.utf8CodeUnitCount
                && bytes.elementsEqual(UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        }
    }

    /// The Host field's value, if there is one.
    public var host: String? { hostField.map { string(fields[$0].value) } }
}
