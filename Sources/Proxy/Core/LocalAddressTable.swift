import MesherBase
import NIOCore
import NIOPosix
import Synchronization

/// This host's addresses, to tell a loop back into Mesher and an inbound connection meant for somewhere
/// else. Read at start; an address not among them is looked up again, at most once a second (a pod's
/// addresses rarely change, and a lookup per refused connection would be a cost an attacker chooses).
final class LocalAddressTable: Sendable {
    static let refreshInterval = TimeAmount.seconds(1)

    private let initial: Set<[UInt8]>
    private let refreshed: Mutex<(addresses: Set<[UInt8]>, at: NIODeadline)>
    private let lookup: @Sendable () -> Set<[UInt8]>

    init(_ addresses: Set<[UInt8]>, lookup: @escaping @Sendable () -> Set<[UInt8]> = LocalAddressTable.system) {
        initial = addresses
        refreshed = Mutex((addresses, .now()))
        self.lookup = lookup
    }

    func contains(_ address: [UInt8]) -> Bool {
        if initial.contains(address) { return true }
        return refreshed.withLock { state in
            if state.addresses.contains(address) { return true }
            let now = NIODeadline.now()
            guard now - state.at >= Self.refreshInterval else { return false }
            state = (lookup(), now)
            return state.addresses.contains(address)
        }
    }

    /// Whether `address` is one of this host's own and not loopback: where inbound connections may go.
    func isLocalNonLoopback(_ address: SocketAddress) -> Bool {
        guard let bytes = address.ipBytes, !Self.isLoopbackOrUnspecified(bytes) else { return false }
        return contains(bytes)
    }

    /// What reaches this host whatever its interfaces: loopback (127.0.0.0/8, ::1) and the unspecified addresses
    /// (0.0.0.0/8, ::), which Linux connects to a local listener; IPv4-mapped forms too.
    static func isLoopbackOrUnspecified(_ bytes: [UInt8]) -> Bool {
        if IPAddressText.isUnspecified(bytes) { return true }
        if let v4 = IPAddressText.ipv4Part(of: bytes) { return v4.first == 127 }
        return bytes.count == 16 && bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1
    }

    static let system: @Sendable () -> Set<[UInt8]> = {
        Set(((try? System.enumerateDevices()) ?? []).compactMap { $0.address?.ipBytes })
    }
}
