import Foundation
import MesherBase

/// `mesher.yaml`: every field optional, defaults here and nowhere else, and so are the ranges that every
/// number, duration and size is checked against at load (a value out of range is refused with its line,
/// never clamped: the data path may convert it to a narrower type).
public struct MesherConfig: Equatable, Sendable {
    public static let drainTimeoutRange = ConfigDuration(seconds: 0)...ConfigDuration(minutes: 10)
    public static let threadsRange = 1...256

    public var outbound = OutboundConfig()
    public var inbound = InboundConfig()
    public var connection = ConnectionConfig()
    /// After SIGTERM/SIGINT: how long open connections may finish before they are closed.
    public var drainTimeout = ConfigDuration(seconds: 5)
    public var log = LogConfig()
    public var sniff = SniffConfig()
    public var registry = RegistryConfig()
    public var routing = RoutingConfig()
    public var explicitProxy = ExplicitProxyConfig()
    public var dns = DNSConfig()
    public var http = HTTPConfig()
    public var traffic = TrafficConfig()
    /// Rules per service: matches, subsets and weights, header edits, faults, rate limits.
    public var routes = RoutesConfig()
    /// The app this Mesher stands beside, registered so that others find it; `nil` registers nothing.
    public var service: ServiceConfig? = nil
    public var admin = AdminConfig()
    public var telemetry = TelemetryConfig()
    public var capture = CaptureConfig()
    /// SO_MARK on upstream sockets so the capture rules skip them; `nil` sets `MesherDefaults.proxyMark` only
    /// when run as root (setting a mark needs CAP_NET_ADMIN; a proxy running as its own uid is skipped by owner
    /// match).
    public var proxyMark: UInt32? = nil
    /// Event-loop threads; `nil` is one per core.
    public var threads: Int? = nil

    public init() {}

    /// Without a mark a proxy running as root would capture its own upstream connections.
    public var effectiveProxyMark: UInt32? {
        proxyMark ?? (geteuid() == 0 ? MesherDefaults.proxyMark : nil)
    }
}

public struct OutboundConfig: Equatable, Sendable {
    public var port = MesherDefaults.outboundPort
    /// Where to listen: REDIRECT in OUTPUT delivers to loopback (127.0.0.1 / ::1).
    public var addresses = ["127.0.0.1", "::1"]

    public init() {}
}

/// Where inbound capture (`mesher init`, PREROUTING) delivers: REDIRECT there rewrites the destination to
/// the address of the interface the packet came in on, so the listener takes every address.
public struct InboundConfig: Equatable, Sendable {
    public var enabled = true
    public var port = MesherDefaults.inboundPort
    public var addresses = ["0.0.0.0", "::"]
    /// Requests to the app (HTTP) and connections (anything else) beyond this answered 429 / reset.
    public var rateLimit: RateLimit? = nil

    public init() {}
}

public struct ConnectionConfig: Equatable, Sendable {
    public static let connectTimeoutRange = ConfigDuration(milliseconds: 10)...ConfigDuration(minutes: 5)
    public static let idleTimeoutRange = ConfigDuration(seconds: 1)...ConfigDuration(hours: 24)
    public static let bufferLimitRange = ByteSize(bytes: 4 << 10)...ByteSize(bytes: 64 << 20)
    public static let maxConnectionsRange = 1...1_048_576

    public var connectTimeout = ConfigDuration(seconds: 5)
    /// A relayed connection with no bytes either way for this long is closed.
    public var idleTimeout = ConfigDuration(seconds: 3600)
    /// Bytes queued towards one side before Mesher stops reading from the other (backpressure).
    public var bufferLimit = ByteSize(bytes: 256 * 1024)
    /// Downstream connections (outbound, inbound and explicit proxy) open at once in one Mesher.
    public var maxConnections = 16384

    public init() {}
}

public struct LogConfig: Equatable, Sendable {
    public var level = LogLevel.info
    /// One line per connection: "-" for standard output, a file path, or `nil` for none.
    public var accessLog: String? = nil

    public init() {}
}

public struct SniffConfig: Equatable, Sendable {
    public static let windowRange = ConfigDuration(milliseconds: 1)...ConfigDuration(seconds: 5)
    /// Server-first protocols (the server speaks before the client): never sniffed, relayed at once.
    public static let wellKnownOpaquePorts: Set<UInt16> = [
        21, 25, 110, 143, 587, 3306, 4444, 5432, 6379, 9300, 11211, 27017,
    ]
    /// How long to wait for the client's first bytes; a silent client is relayed as TCP after it.
    public var window = ConfigDuration(milliseconds: 50)
    /// Ports added to the well-known opaque ones.
    public var opaquePorts: [UInt16] = []

    public init() {}

    public var allOpaquePorts: Set<UInt16> { Self.wellKnownOpaquePorts.union(opaquePorts) }
}

public struct RegistryConfig: Equatable, Sendable {
    public static let leaseTTLRange = ConfigDuration(seconds: 3)...ConfigDuration(hours: 1)
    public var kind = RegistryKind.file
    /// The file registry's directory of YAML files (one per instance or per service).
    public var directory = "/etc/mesher/registry"
    /// etcd: client URLs of the cluster and the key prefix.
    public var endpoints = ["http://127.0.0.1:2379"]
    public var prefix = "/mesher/"
    /// How long this Mesher's instances outlive it when it dies without deregistering: the etcd lease's TTL,
    /// or the `ttl` of the heartbeat in its instance files; both are renewed every third of it.
    public var leaseTTL = ConfigDuration(seconds: 10)
    /// etcd over HTTPS: whom to trust and who Mesher is; nil: the system's CAs and no client certificate.
    public var tls: RegistryTLSConfig? = nil

    public init() {}
}

/// PEM files for etcd over HTTPS, checked readable at load.
public struct RegistryTLSConfig: Equatable, Sendable {
    /// The CA that signed etcd's server certificate (etcd's `--trusted-ca-file` is usually the same CA).
    public var ca: String?
    /// This Mesher's client certificate and its key, for an etcd started with `--client-cert-auth`.
    public var cert: String?
    public var key: String?

    public init() {}
}

public struct RoutingConfig: Equatable, Sendable {
    /// Domains a host name may carry and still name the bare service.
    public var searchSuffixes = ["svc.cluster.local", "cluster.local"]
    /// An IPv6 /96 for services' IPv6 virtual IPs (prefix + the IPv4 virtual IP). None by default: an AAAA
    /// answer in a pod without IPv6 routes makes clients that take the first address fail.
    public var virtualIPv6Prefix: String? = nil
    /// The IPv4 block services' virtual IPs come from: 240.0.0.0/4 (class E, which no real host uses) leaves
    /// collisions rare at 100,000 names; a /4 to a /24.
    public var virtualIPRange = "240.0.0.0/4"

    /// `virtualIPRange` as its first address and prefix length (validated at load).
    public var virtualIPRangeValue: (base: UInt32, prefixLength: Int) {
        Self.parseIPv4Block(virtualIPRange) ?? (0xF000_0000, 4)
    }

    static func parseIPv4Block(_ text: String) -> (base: UInt32, prefixLength: Int)? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let length = Int(parts[1]), (4...24).contains(length),
            let bytes = IPAddressText.ipv4(String(parts[0]))
        else { return nil }
        let base = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return base & ~(~UInt32(0) << (32 - length)) == 0 ? (base, length) : nil
    }

    /// The 12 prefix bytes of `virtualIPv6Prefix` (validated at load).
    public var virtualIPv6PrefixBytes: [UInt8]? {
        virtualIPv6Prefix.flatMap(RoutingConfig.parseIPv6Prefix96)
    }

    static func parseIPv6Prefix96(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, parts[1] == "96" else { return nil }
        guard let bytes = IPAddressText.ipv6(String(parts[0])) else { return nil }
        return bytes.suffix(4).allSatisfy { $0 == 0 } ? Array(bytes.prefix(12)) : nil
    }

    public init() {}
}

/// The ServiceComb-Mesher-style HTTP proxy (`HTTP_PROXY=http://127.0.0.1:<port>`), for apps that opt in.
public struct ExplicitProxyConfig: Equatable, Sendable {
    public var enabled = true
    public var address = "127.0.0.1"
    public var port = MesherDefaults.explicitProxyPort

    public init() {}
}

/// The DNS listener that `mesher init --capture-dns` sends the app's queries to: registry services
/// resolve to virtual IPs, every other name is forwarded to the resolvers of `resolvConf`.
public struct DNSConfig: Equatable, Sendable {
    public static let ttlRange = ConfigDuration(seconds: 0)...ConfigDuration(hours: 1)
    public static let maxForwardsRange = 1...65536

    public var enabled = true
    public var port = MesherDefaults.dnsPort
    public var addresses = ["127.0.0.1", "::1"]
    public var resolvConf = "/etc/resolv.conf"
    /// TTL of the answers for services: short, so that a change of registry is seen soon.
    public var ttl = ConfigDuration(seconds: 5)
    /// Queries being forwarded upstream at once (UDP and TCP together); more are answered SERVFAIL at once.
    /// Each holds a socket of its own until the upstream answers or 2 s pass.
    public var maxForwards = 256

    public init() {}
}

public struct HTTPConfig: Equatable, Sendable {
    public static let maxHeaderBytesRange = ByteSize(bytes: 1 << 10)...ByteSize(bytes: 1 << 20)
    public static let headerTimeoutRange = ConfigDuration(seconds: 1)...ConfigDuration(minutes: 5)
    public static let maxHeadersRange = 1...1000
    public static let slowReaderBytesRange = ByteSize(bytes: 1 << 20)...ByteSize(bytes: 1 << 32)
    public static let slowReaderTimeoutRange = ConfigDuration(seconds: 1)...ConfigDuration(minutes: 10)

    /// Header names and values of one request, together (and so any one header); more gets a 400.
    public var maxHeaderBytes = ByteSize(bytes: 64 * 1024)
    /// Time allowed to receive a complete request head.
    public var headerTimeout = ConfigDuration(seconds: 10)
    /// Header fields of one request or response head.
    public var maxHeaders = 100
    /// Append the client's address to X-Forwarded-For on requests sent upstream.
    public var forwardedFor = false
    /// Response bytes Mesher holds for HTTP/2 clients that do not read them, all connections together; past
    /// it, streams that still hold some read no more from their instances.
    public var slowReaderBytes = ByteSize(bytes: 64 << 20)
    /// How long an HTTP/2 stream may wait for its client to take what it holds before it is reset.
    public var slowReaderTimeout = ConfigDuration(seconds: 30)

    public init() {}
}

/// What a provider's Mesher registers: one instance per port.
public struct ServiceConfig: Equatable, Sendable {
    public var name: String
    public var version: String?
    public var app: String?
    public var environment: String?
    public var ports: [UInt16]
    /// The address others reach the app at; `nil` is the host's first non-loopback address.
    public var address: String?
    public var tags: [String: String] = [:]
    /// What the app speaks to Mesher (the registry entry's `protocol`: h2c for a gRPC server).
    public var `protocol` = InstanceProtocol.auto
    public var healthCheck = HealthCheckConfig()

    public init(name: String, ports: [UInt16]) {
        self.name = name
        self.ports = ports
    }
}

/// The local health check of the app: the instance is up only while it passes.
public struct HealthCheckConfig: Equatable, Sendable {
    public static let intervalRange = ConfigDuration(milliseconds: 100)...ConfigDuration(hours: 1)
    public static let timeoutRange = ConfigDuration(milliseconds: 10)...ConfigDuration(minutes: 5)
    public static let thresholdRange = 1...100
    public var kind = HealthCheckKind.tcp
    /// Port to check; `nil` is the service's first port.
    public var port: UInt16? = nil
    /// Address to probe; `nil` is the one the instance is registered with, where its callers reach it (an app
    /// listening on its pod address only never answers on 127.0.0.1).
    public var host: String? = nil
    public var path = "/"
    /// `nil` accepts any 2xx.
    public var expectStatus: Int? = nil
    public var bodyContains: String? = nil
    public var interval = ConfigDuration(seconds: 5)
    public var timeout = ConfigDuration(seconds: 1)
    public var failureThreshold = 3
    public var successThreshold = 1

    public init() {}
}

/// Health, readiness (and later metrics) for the kubelet and for people; loopback only by default.
public struct AdminConfig: Equatable, Sendable {
    public var enabled = true
    public var address = "127.0.0.1"
    public var port = MesherDefaults.adminPort

    public init() {}
}

/// What Mesher records of the traffic it carries, besides the access log: Prometheus metrics (served on the
/// admin port's `/metrics`) and W3C / B3 trace context on HTTP requests. Both on; off only to measure them.
public struct TelemetryConfig: Equatable, Sendable {
    public var metrics = true
    public var tracing = true

    public init() {}
}

/// How `mesher init` captured the traffic, as far as `mesher run` must know: in nfqueue mode it runs the
/// queue reader that marks new connections (use the same queue and mark as `mesher init`).
public struct CaptureConfig: Equatable, Sendable {
    public var mode = CaptureMode.redirect
    public var queueNumber = MesherDefaults.queueNumber
    public var queueMark = MesherDefaults.queueMark

    public init() {}
}
