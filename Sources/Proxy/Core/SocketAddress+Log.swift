import NIOCore

extension SocketAddress {
    /// The raw address bytes (4 or 16), for comparisons without string formatting.
    var ipBytes: [UInt8]? {
        switch self {
        case .v4(let address):
            withUnsafeBytes(of: address.address.sin_addr) { Array($0) }
        case .v6(let address):
            withUnsafeBytes(of: address.address.sin6_addr) { Array($0) }
        case .unixDomainSocket:
            nil
        }
    }

    /// "1.2.3.4:80" / "[::1]:80"; only formatted when someone logs it (it costs more than relaying a small
    /// request).
    public var logText: String {
        let host = ipAddress ?? "?"
        let port = port ?? 0
        if case .v6 = self { return "[\(host)]:\(port)" }
        return "\(host):\(port)"
    }
}
