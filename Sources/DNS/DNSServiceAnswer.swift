/// The answer Mesher gives for a name it owns (a registry service).
public struct DNSServiceAnswer: Sendable, Equatable {
    /// 4 bytes, e.g. a virtual IP in 240.240.0.0/16; nil when the service has no IPv4 address.
    public var ipv4: [UInt8]?
    /// 16 bytes; nil when the service has no IPv6 address.
    public var ipv6: [UInt8]?

    public init(ipv4: [UInt8]?, ipv6: [UInt8]?) {
        self.ipv4 = ipv4
        self.ipv6 = ipv6
    }
}
