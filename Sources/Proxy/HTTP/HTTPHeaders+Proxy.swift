import NIOHTTP1

extension HTTPHeaders {
    /// Headers that describe one connection, not the message (RFC 9110 §7.6.1). Framing (Transfer-Encoding)
    /// is redone by the encoder of the next hop. "connection" first: its bit is checked by position.
    private static let hopByHop = [
        "connection", "proxy-connection", "keep-alive", "te", "transfer-encoding", "upgrade",
    ]

    /// Removes the hop-by-hop headers and those `Connection` names, in place. One scan without allocation
    /// finds which are there (usually none, or `Connection: keep-alive`); only those are removed.
    mutating func removeHopByHop() {
        var found: UInt8 = 0
        var connectionNamesHeaders = false
        for (name, value) in self {
            guard let index = Self.hopByHop.firstIndex(where: { name.equalsASCIICaseInsensitive($0) }) else {
                continue
            }
            found |= 1 << index
            if index == 0 && !Self.isConnectionOption(value) { connectionNamesHeaders = true }
        }
        guard found != 0 else { return }
        if connectionNamesHeaders {
            for token in self[canonicalForm: "connection"] where !Self.isConnectionOption(token) {
                remove(name: String(token))
            }
        }
        for (index, name) in Self.hopByHop.enumerated() where found & (1 << index) != 0 { remove(name: name) }
    }

    /// `Connection` options that name no header.
    private static func isConnectionOption(_ token: some StringProtocol) -> Bool {
        token.equalsASCIICaseInsensitive("close") || token.equalsASCIICaseInsensitive("keep-alive")
    }

    /// Whether the request asks to switch protocols (WebSocket and the like).
    var isUpgradeRequest: Bool {
        contains(name: "upgrade")
            && self[canonicalForm: "connection"].contains { $0.equalsASCIICaseInsensitive("upgrade") }
    }
}

extension StringProtocol {
    /// ASCII case-insensitive equality with a lowercase `other`, without building a lowercased copy.
    fileprivate func equalsASCIICaseInsensitive(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        var mine = utf8.makeIterator()
        for expected in other.utf8 {
            guard let byte = mine.next() else { return false }
            if byte != expected && (byte | 0x20 != expected || expected < 0x61 || expected > 0x7A) { return false }
        }
        return true
    }
}

extension HTTPRequestHead {
    /// The request line and headers as they go on the wire, for handing an upgrade to the byte relay.
    var serialized: String {
        var text = "\(method.rawValue) \(uri) HTTP/\(version.major).\(version.minor)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return text + "\r\n"
    }

    /// The authority the request names: the Host header, else the absolute-form target.
    var authority: String? {
        if let host = headers.first(name: "host") { return host }
        guard !uri.hasPrefix("/"), let schemeEnd = uri.range(of: "://") else { return nil }
        let rest = uri[schemeEnd.upperBound...]
        return String(rest.prefix { $0 != "/" && $0 != "?" })
    }
}
