import MesherBase
import NIOCore

/// Tells Mesher's own listeners apart from where traffic may go: a destination on one of Mesher's ports and
/// one of this host's addresses (loopback, its interfaces', or 0.0.0.0 and `::`, which are this host to
/// connect()) is a loop back into Mesher (or someone using Mesher to reach itself), and an inbound connection
/// may go to this host's own non-loopback addresses only.
struct LoopGuard: Sendable {
    let ownPorts: Set<Int>
    let localAddresses: LocalAddressTable

    /// Why a connection to `destination` must not be made, if it must not; `local`: the accepted socket's
    /// own address (a connection that was not redirected has itself as its original destination).
    func refusal(for destination: SocketAddress, local: SocketAddress?) -> ConnectionOutcome? {
        guard let port = destination.port, ownPorts.contains(port) else { return nil }
        if let local, destination == local { return .noOriginalDestination }
        guard let bytes = destination.ipBytes else { return nil }
        // An IPv4-mapped address is the IPv4 one to a dual-stack socket.
        let host = IPAddressText.ipv4Part(of: bytes).map(Array.init) ?? bytes
        return LocalAddressTable.isLoopbackOrUnspecified(host) || localAddresses.contains(host) ? .loop : nil
    }

    func isLocalNonLoopback(_ address: SocketAddress) -> Bool {
        localAddresses.isLocalNonLoopback(address)
    }
}
