import NIOCore
import NIOHTTP1

/// The admin port serves Mesher's tools, the kubelet, Prometheus and the live page, never another web page. A
/// browser sends a form's POST (`text/plain`) to any address without asking first, so a page the developer
/// visits while the port is forwarded could shut Mesher down; and a name of the attacker's that resolves to
/// 127.0.0.1 (DNS rebinding) would let its page read the answers. Tools and probes send neither `Origin` nor
/// `Sec-Fetch-Site`, and address Mesher by IP or `localhost`.
enum SameOriginCheck {
    /// Why the request is refused (403), nil when it may go on. `port`: the admin's own, the one the request
    /// came in on.
    static func refusal(_ headers: HTTPHeaders, port: Int?) -> String? {
        let hosts = headers["host"]
        guard hosts.count <= 1 else { return "more than one Host" }
        if let host = hosts.first, !isOwn(host: host, port: port) {
            let ports = port.map { " (with port \($0) or none)" } ?? ""
            return "Host '\(host.prefix(100))' is not an IP address or localhost\(ports)"
        }
        let origins = headers["origin"]
        if !origins.isEmpty {
            // The live page's own requests carry its origin: http:// and the Host it was loaded from.
            guard origins.count == 1, let host = hosts.first, origins[0].lowercased() == "http://" + host.lowercased()
            else { return "Origin '\(origins.joined(separator: ", ").prefix(100))' is not this admin's" }
        }
        if headers["sec-fetch-site"].contains(where: { $0.lowercased() == "cross-site" }) {
            return "a cross-site request (Sec-Fetch-Site)"
        }
        return nil
    }

    /// `localhost`, an IPv4 address or a bracketed IPv6 one, with the admin's port or none.
    static func isOwn(host: String, port: Int?) -> Bool {
        var name = Substring(host)
        var portText: Substring?
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return false }
            let rest = name[name.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else { return false }
                portText = rest.dropFirst()
            }
            name = name[name.index(after: name.startIndex)..<close]
            guard case .v6 = try? SocketAddress(ipAddress: String(name), port: 0) else { return false }
        } else {
            if let colon = name.lastIndex(of: ":") {
                portText = name[name.index(after: colon)...]
                name = name[..<colon]
            }
            let isIPv4 = if case .v4 = try? SocketAddress(ipAddress: String(name), port: 0) { true } else { false }
            guard isIPv4 || name.lowercased() == "localhost" else { return false }
        }
        guard let portText else { return true }
        guard !portText.isEmpty, portText.utf8.allSatisfy({ (48...57).contains($0) }), let value = Int(portText) else {
            return false
        }
        return port.map { $0 == value } ?? true
    }
}
