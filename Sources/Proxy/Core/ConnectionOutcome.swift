import Sniff

/// Outbound: the app calling out (routed by service). Inbound: a caller reaching the app (always to the
/// port it asked for on this host).
enum TrafficDirection: String, Sendable {
    case outbound, inbound
}

/// How a downstream connection ended, as written to logs.
enum ConnectionOutcome: String, Sendable {
    case ok
    case reset
    case idleTimeout = "idle-timeout"
    /// Closed by a drain (shutdown): idle at the time, after its last response, or at the drain's timeout.
    case drained
    case connectRefused = "connect-refused"
    case connectTimeout = "connect-timeout"
    case connectFailed = "connect-failed"
    case noOriginalDestination = "no-original-destination"
    case noInstance = "no-instance"
    /// A service with its `maxRequests` in flight.
    case overflow
    /// Inbound beyond `inbound.rateLimit`.
    case rateLimited = "rate-limited"
    case loop
    /// Inbound, to an address that is not this host's (or is loopback): never relayed.
    case nonLocalDestination = "non-local-destination"

    /// Mesher turned the connection away (reset it) instead of relaying it.
    var isRefusal: Bool {
        switch self {
        case .ok, .reset, .idleTimeout, .drained: false
        case .connectRefused, .connectTimeout, .connectFailed, .noOriginalDestination, .noInstance, .overflow,
            .rateLimited, .loop, .nonLocalDestination:
            true
        }
    }
}

/// Log lines that a caller can cause at will, rate-limited per kind and event loop.
enum ProxyWarning: Hashable, Sendable {
    case badRequest
    case notForwarded(String)
    case badResponse
    case refused(ConnectionOutcome)
    /// A client address over its HTTP/2 reset budget.
    case resets
    /// An HTTP/2 stream whose client took nothing for `slowReaderTimeout`.
    case stalledReader
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
