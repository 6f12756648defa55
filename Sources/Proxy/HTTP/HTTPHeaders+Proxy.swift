import NIOHTTP1

extension HTTPHeaders {
    /// Headers that describe one connection, not the message (RFC 9110 §7.6.1). Framing (Transfer-Encoding)
    /// is redone by the encoder of the next hop.
    private static let hopByHop = ["connection", "proxy-connection", "keep-alive", "te", "transfer-encoding", "upgrade"]

    /// Removes the hop-by-hop headers and those `Connection` names, in place. Most messages have none or
    /// only `Connection`, so one scan without allocation decides whether anything needs to go.
    mutating func removeHopByHop() {
        guard contains(where: { name, _ in Self.hopByHop.contains { name.equalsASCIICaseInsensitive($0) } }) else {
            return
        }
        for listed in self[canonicalForm: "connection"] { remove(name: String(listed)) }
        for name in Self.hopByHop { remove(name: name) }
    }

    /// Whether the request asks to switch protocols (WebSocket and the like).
    var isUpgradeRequest: Bool {
        contains(name: "upgrade") && self[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
    }
}

extension String {
    /// ASCII case-insensitive equality with a lowercase `other`, without building a lowercased copy.
    fileprivate func equalsASCIICaseInsensitive(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        return zip(utf8, other.utf8).allSatisfy { $0 == $1 || ($0 | 0x20 == $1 && $1 >= 0x61 && $1 <= 0x7A) }
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
        guard let schemeEnd = uri.range(of: "://") else { return nil }
        let rest = uri[schemeEnd.upperBound...]
        return String(rest.prefix { $0 != "/" && $0 != "?" })
    }
}
