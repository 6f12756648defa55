import Discovery

/// Turns what a connection or request names (a Host header, a virtual IP) into a service and an instance.
public final class ServiceRouter: Sendable {
    public let discovery: any ServiceDiscovery
    public let virtualIPs: VirtualIPTable
    private let searchSuffixes: [String]

    /// `searchSuffixes`: domains a name may carry and still mean the bare service
    /// ("accountservice.default.svc.cluster.local" with "svc.cluster.local").
    public init(
        discovery: any ServiceDiscovery, virtualIPs: VirtualIPTable = VirtualIPTable(), searchSuffixes: [String]
    ) {
        self.discovery = discovery
        self.virtualIPs = virtualIPs
        self.searchSuffixes = searchSuffixes.map { $0.lowercased().trimmingDots() }
    }

    /// The registry's key for the service `host` names (port, case and search suffixes ignored), if any.
    public func service(forHost host: String) -> String? {
        guard let name = ServiceName.normalize(host) else { return nil }
        let snapshot = discovery.snapshot
        if snapshot.services[name] != nil { return name }
        guard let dot = name.firstIndex(of: ".") else { return nil }
        let label = String(name[..<dot])
        let rest = name[name.index(after: dot)...]
        guard snapshot.services[label] != nil,
            searchSuffixes.contains(where: { rest == $0 || rest.hasSuffix("." + $0) })
        else { return nil }
        return label
    }

    /// The service whose virtual IP this is.
    public func service(forVirtualIP address: [UInt8]) -> String? {
        virtualIPs.service(at: address)
    }

    /// Every instance the registry has of `service`, up or down; each event loop's `EndpointTable` picks.
    public func instances(of service: String) -> [ServiceInstance] {
        discovery.snapshot.instances(of: service)
    }
}

/// Host names as the registry keys them.
public enum ServiceName {
    /// Lowercased, without port or trailing dot; `nil` for IP literals and empty names.
    public static func normalize(_ host: String) -> String? {
        var name = Substring(host)
        if name.hasPrefix("[") { return nil }  // IPv6 literal
        if let colon = name.lastIndex(of: ":") {
            guard name.utf8[name.index(after: colon)...].allSatisfy(isDigit) else { return nil }
            name = name[..<colon]
        }
        // IPv4 literals (and empty names) first, before any copy: most egress requests name an address.
        guard !name.utf8.allSatisfy({ isDigit($0) || $0 == UInt8(ascii: ".") }) else { return nil }
        return name.lowercased().trimmingDots()
    }

    /// ASCII only: this runs on every request, and Unicode digit classes mean nothing in a host name.
    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}

extension String {
    func trimmingDots() -> String {
        var text = Substring(self)
        while text.hasSuffix(".") { text = text.dropLast() }
        while text.hasPrefix(".") { text = text.dropFirst() }
        return String(text)
    }
}
