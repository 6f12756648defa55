import NIOCore

public struct DNSServerConfiguration: Sendable {
    /// Listen addresses, e.g. ["127.0.0.1", "::1"]; UDP and TCP are bound on each.
    public var addresses: [String]
    /// 0 picks a free port (the same one for UDP, TCP and every address).
    public var port: Int
    /// Resolvers for every name Mesher does not own, tried in order.
    public var upstreams: [SocketAddress]
    /// TTL of Mesher's own answers: short, so a service moving to another address is picked up quickly.
    public var ttl: UInt32
    /// How long one upstream gets to answer before the next is tried.
    public var forwardTimeout: TimeAmount
    /// Suffixes stripped from a question name before the service lookup (resolv.conf "search").
    public var searchDomains: [String]
    /// SO_MARK on forwarded queries, so that capture rules skip them when Mesher runs as root
    /// (otherwise its own forward would be redirected back to itself).
    public var socketMark: UInt32?
    /// Queries forwarded at once, over UDP and TCP together; more are answered SERVFAIL at once.
    public var maxForwards: Int
    /// DNS-over-TCP client connections open at once; at the cap the TCP listeners stop accepting.
    public var maxTCPConnections = 256
    /// A TCP client connection that sends nothing for this long is closed (RFC 7766 §6.2.3).
    public var tcpIdleTimeout = TimeAmount.seconds(10)

    public init(
        addresses: [String], port: Int, upstreams: [SocketAddress] = [], ttl: UInt32 = 5,
        forwardTimeout: TimeAmount = .seconds(2), searchDomains: [String] = [], socketMark: UInt32? = nil,
        maxForwards: Int = 256
    ) {
        self.socketMark = socketMark
        self.maxForwards = maxForwards
        self.addresses = addresses
        self.port = port
        self.upstreams = upstreams
        self.ttl = ttl
        self.forwardTimeout = forwardTimeout
        self.searchDomains = searchDomains
    }

    /// Reads the "nameserver" lines (IPv4 and IPv6, port 53) and the search list of a resolv.conf text.
    /// As in resolv(5), "domain" and "search" replace each other and the last one wins; nameservers that
    /// are not plain addresses (e.g. a link-local one with a zone) are skipped.
    public static func parseResolvConf(_ text: String) -> (upstreams: [SocketAddress], searchDomains: [String]) {
        var upstreams: [SocketAddress] = []
        var searchDomains: [String] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let content = line.prefix { $0 != "#" && $0 != ";" }
            let fields = content.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let keyword = fields.first else { continue }
            let values = fields.dropFirst()
            switch keyword {
            case "nameserver":
                if let address = values.first, let upstream = try? SocketAddress(ipAddress: address, port: 53) {
                    upstreams.append(upstream)
                }
            case "search", "domain":
                searchDomains = values.map(normalizedDomain).filter { !$0.isEmpty }
            default:
                continue
            }
        }
        return (upstreams, searchDomains)
    }

    static func normalizedDomain(_ domain: String) -> String {
        var domain = Substring(domain.lowercased())
        while domain.hasPrefix(".") { domain = domain.dropFirst() }
        while domain.hasSuffix(".") { domain = domain.dropLast() }
        return String(domain)
    }
}
