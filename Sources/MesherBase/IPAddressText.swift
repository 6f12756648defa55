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

    private static func bytes(_ text: String, family: Int32, count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBytes { inet_pton(family, text, $0.baseAddress) }
        return ok == 1 ? out : nil
    }
}
