import NIOHTTP1

extension HTTPHeaders {
    /// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus those `Connection` names.
    /// Framing (Transfer-Encoding) is redone by the encoder of the next hop.
    func removingHopByHop() -> HTTPHeaders {
        var named: Set<String> = ["connection", "proxy-connection", "keep-alive", "te", "transfer-encoding", "upgrade"]
        for value in self[canonicalForm: "connection"] { named.insert(value.lowercased()) }
        var out = HTTPHeaders()
        for (name, value) in self where !named.contains(name.lowercased()) {
            out.add(name: name, value: value)
        }
        return out
    }

    /// Whether the request asks to switch protocols (WebSocket and the like).
    var isUpgradeRequest: Bool {
        self[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" } && !self["upgrade"].isEmpty
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
