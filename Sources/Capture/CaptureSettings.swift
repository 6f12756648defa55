import MesherBase

/// Everything that decides which traffic the capture rules send to Mesher; defaults from `MesherDefaults`.
public struct CaptureSettings: Equatable, Sendable {
    public var outboundPort = MesherDefaults.outboundPort
    public var inboundPort = MesherDefaults.inboundPort
    public var dnsPort = MesherDefaults.dnsPort
    /// Ports Mesher itself serves on (admin, explicit proxy): never captured inbound.
    public var reservedPorts = [MesherDefaults.adminPort, MesherDefaults.explicitProxyPort]
    /// Traffic of this uid is the proxy's own and is never captured.
    public var proxyUID = MesherDefaults.proxyUID
    /// Traffic with this socket mark (SO_MARK, set by a proxy running as root) is never captured.
    public var proxyMark = MesherDefaults.proxyMark
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
    public var queueNumber = MesherDefaults.queueNumber
    /// The bit the queue reader sets; must not overlap `proxyMark`.
    public var queueMark = MesherDefaults.queueMark

    public init() {}

    public var capturesInbound: Bool { includeInboundPorts != .none }
}
