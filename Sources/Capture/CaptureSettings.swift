/// Everything that decides which traffic the capture rules send to Mesher. Defaults live here only.
public struct CaptureSettings: Equatable, Sendable {
    public var outboundPort: UInt16 = 15001
    public var inboundPort: UInt16 = 15006
    public var dnsPort: UInt16 = 15053
    /// Ports Mesher itself serves on (admin, explicit proxy): never captured inbound.
    public var reservedPorts: [UInt16] = [15000, 30101]
    /// Traffic of this uid is the proxy's own and is never captured.
    public var proxyUID: UInt32 = 1337
    /// Traffic with this socket mark (SO_MARK, set by a proxy running as root) is never captured.
    public var proxyMark: UInt32 = 0x539
    public var captureDNS = false
    /// `nil` captures every destination; a list limits capture to it.
    public var includeOutboundCIDRs: [CIDR]? = nil
    public var excludeOutboundCIDRs: [CIDR] = []
    public var excludeOutboundPorts: [PortRange] = []
    /// Inbound TCP to every port but Mesher's own is captured; "" turns inbound capture off.
    public var includeInboundPorts: PortSelection = .all
    public var excludeInboundPorts: [PortRange] = []
    /// redirect: REDIRECT every new connection (simple, no capability at run time, but refused while Mesher is
    /// down). nfqueue: only connections whose first packet Mesher's queue reader marked (fail-open).
    public var mode = CaptureMode.redirect
    public var queueNumber: UInt16 = 15001
    /// The bit the queue reader sets; must not overlap `proxyMark`.
    public var queueMark: UInt32 = 0x1000

    public init() {}

    public var capturesInbound: Bool { includeInboundPorts != .none }
}

public enum CaptureMode: String, Sendable, CaseIterable {
    case redirect, nfqueue
}
