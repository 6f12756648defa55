import Limits
import Logging
import NIOCore
import Routing
import Sniff

/// Shared by every relayed connection: settings, logs and the set of open connections.
struct RelayEnvironment: Sendable {
    var settings: RelaySettings
    var logger: Logger
    var accessLog: AccessLog?
    var tracker: ConnectionTracker
    /// Service-name routing; `nil` relays everything to its original destination.
    var router: ServiceRouter?
    /// What each event loop has of its own.
    var loops: [ObjectIdentifier: NIOLoopBoundBox<LoopState>] = [:]

    /// The state of `eventLoop`; every loop of the group has one. Call it on that loop.
    func loop(_ eventLoop: any EventLoop) -> LoopState {
        guard let box = loops[ObjectIdentifier(eventLoop)] else {
            preconditionFailure("no state for \(eventLoop)")
        }
        return box.value
    }
}

/// What one event loop keeps for itself, so that no request takes a lock another loop uses: its upstream
/// connection pool, and its own count of the warnings a flood could repeat (at most one line per kind and
/// loop in 10 s).
final class LoopState {
    let pool: UpstreamPool
    let warnings = RateLimitedLog<ProxyWarning>()

    init(pool: UpstreamPool) {
        self.pool = pool
    }
}

/// Log lines that a caller can cause at will.
enum ProxyWarning: Hashable, Sendable {
    case badRequest
    case notForwarded(String)
    case badResponse
    case refused(RelayOutcome)
}

/// Outbound: the app calling out (routed by service). Inbound: a caller reaching the app (always to the
/// port it asked for on this host).
enum TrafficDirection: String {
    case outbound, inbound
}

/// How a relayed connection ended, as written to logs.
enum RelayOutcome: String {
    case ok
    case reset
    case idleTimeout = "idle-timeout"
    case drained
    case connectRefused = "connect-refused"
    case connectTimeout = "connect-timeout"
    case connectFailed = "connect-failed"
    case noOriginalDestination = "no-original-destination"
    case noInstance = "no-instance"
    case loop
    /// Inbound, to an address that is not this host's (or is loopback): never relayed.
    case nonLocalDestination = "non-local-destination"
}

extension RelayOutcome {
    /// Mesher turned the connection away (reset it) instead of relaying it.
    var isRefusal: Bool {
        switch self {
        case .ok, .reset, .idleTimeout, .drained: false
        case .connectRefused, .connectTimeout, .connectFailed, .noOriginalDestination, .noInstance, .loop,
            .nonLocalDestination:
            true
        }
    }
}

extension SniffResult {
    /// As written to logs.
    var protocolName: String {
        switch self {
        case .http: "http"
        case .tls: "tls"
        case .http2: "h2"
        case .opaque, .needMore: "tcp"
        }
    }

    var serverName: String? {
        if case .tls(let name) = self { return name }
        return nil
    }
}
