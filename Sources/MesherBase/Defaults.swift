/// Mesher's ports and identity. `mesher init` writes them into the capture rules, `mesher run` listens and
/// marks its sockets with them, `mesher inject` puts them into pod specs: one definition, so they cannot drift.
public enum MesherDefaults {
    /// Outbound capture listener (REDIRECT from nat OUTPUT).
    public static let outboundPort: UInt16 = 15001
    /// Inbound capture listener (REDIRECT from nat PREROUTING).
    public static let inboundPort: UInt16 = 15006
    /// DNS listener (UDP and TCP).
    public static let dnsPort: UInt16 = 15053
    /// Health, readiness, metrics (loopback only).
    public static let adminPort: UInt16 = 15000
    /// ServiceComb-Mesher-style explicit HTTP proxy (loopback only).
    public static let explicitProxyPort: UInt16 = 30101
    /// The uid the proxy runs as: the capture rules skip its traffic by owner match.
    public static let proxyUID: UInt32 = 1337
    /// The socket mark of the proxy's own traffic when it runs as root (owner match cannot tell it apart).
    public static let proxyMark: UInt32 = 0x539
    /// nfqueue mode: the queue the capture rules send new connections' first packets to.
    public static let queueNumber: UInt16 = 15001
    /// nfqueue mode: the bit the queue reader sets on a connection it lets be captured; must not overlap `proxyMark`.
    public static let queueMark: UInt32 = 0x1000
}
