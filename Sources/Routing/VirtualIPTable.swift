import Synchronization

/// Stable virtual IPs for service names in 240.240.0.0/16, for DNS answers and L4 routing.
/// A name's address comes from a hash of the name, so it stays the same across restarts unless
/// two names collide (then the later one takes the next free address).
/// With an IPv6 /96 prefix, a service's IPv6 address is that prefix followed by its IPv4 one.
public final class VirtualIPTable: Sendable {
    public static let prefix: [UInt8] = [240, 240]
    /// The first 12 bytes of IPv6 virtual IPs; `nil` when there are none.
    public let ipv6Prefix: [UInt8]?

    private struct Table {
        var byName: [String: UInt16] = [:]
        var byHost: [UInt16: String] = [:]
    }

    private let table = Mutex(Table())

    public init(ipv6Prefix: [UInt8]? = nil) {
        precondition(ipv6Prefix == nil || ipv6Prefix?.count == 12, "an IPv6 virtual IP prefix is a /96")
        self.ipv6Prefix = ipv6Prefix
    }

    /// The IPv6 address of `service`, when IPv6 virtual IPs are configured.
    public func ipv6Address(for service: String) -> [UInt8]? {
        ipv6Prefix.map { $0 + address(for: service) }
    }

    /// The address of `service` (lowercased name), allocating it on first use.
    public func address(for service: String) -> [UInt8] {
        let host = table.withLock { table -> UInt16 in
            if let known = table.byName[service] { return known }
            var candidate = Self.hash(service)
            while table.byHost[candidate] != nil { candidate = Self.next(candidate) }
            table.byName[service] = candidate
            table.byHost[candidate] = service
            return candidate
        }
        return Self.prefix + [UInt8(host >> 8), UInt8(host & 0xFF)]
    }

    public func service(at address: [UInt8]) -> String? {
        if address.count == 16, let ipv6Prefix, address.starts(with: ipv6Prefix) {
            return service(at: Array(address.suffix(4)))
        }
        guard address.count == 4, address.starts(with: Self.prefix) else { return nil }
        let host = UInt16(address[2]) << 8 | UInt16(address[3])
        return table.withLock { $0.byHost[host] }
    }

    /// FNV-1a, folded into 1...65534 (no network or broadcast address).
    static func hash(_ name: String) -> UInt16 {
        var value: UInt32 = 2_166_136_261
        for byte in name.utf8 {
            value = (value ^ UInt32(byte)) &* 16_777_619
        }
        return UInt16(value % 65534) + 1
    }

    static func next(_ host: UInt16) -> UInt16 { host >= 65534 ? 1 : host + 1 }
}
