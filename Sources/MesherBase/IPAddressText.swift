#if canImport(Glibc)
    import Glibc
#endif

/// IP addresses as configs and registries write them: dotted IPv4 or textual IPv6, no host names, no brackets.
public enum IPAddressText {
    /// The 4 bytes of an IPv4 address.
    public static func ipv4(_ text: String) -> [UInt8]? {
        bytes(text, family: AF_INET, count: 4)
    }

    /// The 16 bytes of an IPv6 address.
    public static func ipv6(_ text: String) -> [UInt8]? {
        bytes(text, family: AF_INET6, count: 16)
    }

    public static func isValid(_ text: String) -> Bool {
        ipv4(text) != nil || ipv6(text) != nil
    }

    /// The IPv4 address in `bytes`: all 4 of them, or the last 4 of an IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`, which a dual-stack socket connects to as that IPv4 address); nil for other IPv6.
    public static func ipv4Part(of bytes: [UInt8]) -> ArraySlice<UInt8>? {
        if bytes.count == 4 { return bytes[...] }
        let isMapped =
            bytes.count == 16 && bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
        return isMapped ? bytes[12...] : nil
    }

    /// 0.0.0.0/8 and `::` (IPv4-mapped too): no host's address; Linux connects 0.0.0.0 and `::` to a listener of
    /// this host.
    public static func isUnspecified(_ bytes: [UInt8]) -> Bool {
        if let v4 = ipv4Part(of: bytes) { return v4.first == 0 }
        return bytes.count == 16 && bytes.allSatisfy { $0 == 0 }
    }

    /// An address one host can answer for as its own: not unspecified, multicast (224.0.0.0/4, ff00::/8) or
    /// the broadcast address (255.255.255.255).
    public static func isOneHost(_ bytes: [UInt8]) -> Bool {
        if isUnspecified(bytes) { return false }
        if let v4 = ipv4Part(of: bytes) { return !(224...239).contains(v4.first!) && !v4.allSatisfy { $0 == 255 } }
        return bytes.count == 16 && bytes[0] != 0xFF
    }

    private static func bytes(_ text: String, family: Int32, count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBytes { inet_pton(family, text, $0.baseAddress) }
        return ok == 1 ? out : nil
    }
}
