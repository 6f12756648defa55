import NIOCore

/// Which listener accepted a connection.
public enum ListenerKind: Sendable {
    /// What iptables REDIRECTs from the app's outbound connections.
    case outbound
    /// What iptables REDIRECTs from callers to the app.
    case inbound
    /// `HTTP_PROXY=http://127.0.0.1:30101`: the app addresses Mesher itself, nothing is captured.
    case explicitProxy

    var direction: TrafficDirection { self == .inbound ? .inbound : .outbound }
}

/// What the Accept stage hands on: a connection Mesher takes, and where it was going.
struct Accepted {
    let listener: ListenerKind
    /// Where the app (or caller) was going before iptables REDIRECTed it; `nil` on the explicit proxy.
    let original: SocketAddress?

    var direction: TrafficDirection { listener.direction }
}

/// Looks a captured connection's original destination up (`OriginalDestination.of` on sockets; tests give
/// one of their own to embedded channels).
typealias OriginalDestinationLookup = (any Channel) -> EventLoopFuture<SocketAddress>

/// The Accept stage's verdict on one connection.
enum AcceptVerdict {
    case accepted(Accepted)
    /// Reset; `original` (when known) is still logged.
    case refused(ConnectionOutcome, original: SocketAddress?)
}

/// Decides whether a captured connection is taken, once its original destination is known.
struct AcceptPolicy {
    let listener: ListenerKind
    let loopGuard: LoopGuard
    let lookup: OriginalDestinationLookup

    /// The connection as accepted, or why it is refused (then it is reset). A lookup that fails means the
    /// connection was not redirected: nowhere to relay it to.
    func accept(_ channel: any Channel) -> EventLoopFuture<AcceptVerdict> {
        let listener = self.listener
        let loopGuard = self.loopGuard
        let local = channel.localAddress
        return lookup(channel).assumeIsolated().map { destination -> AcceptVerdict in
            if let reason = loopGuard.refusal(for: destination, local: local) {
                return .refused(reason, original: destination)
            }
            // Defence in depth behind the capture rules: inbound connections go to this host's own
            // addresses only, never on to another network or to loopback.
            if listener == .inbound && !loopGuard.isLocalNonLoopback(destination) {
                return .refused(.nonLocalDestination, original: destination)
            }
            return .accepted(Accepted(listener: listener, original: destination))
        }.recover { _ in .refused(.noOriginalDestination, original: nil) }.nonisolated()
    }
}
