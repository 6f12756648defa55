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
        guard let bytes = address.ipBytes, !Self.isLoopback(bytes) else { return false }
        return contains(bytes)
    }

    static func isLoopback(_ bytes: [UInt8]) -> Bool {
        switch bytes.count {
        case 4: bytes[0] == 127
        // ::1, and IPv4-mapped loopback (::ffff:127.x.x.x).
        case 16:
            bytes == [UInt8](repeating: 0, count: 15) + [1]
                || (bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127)
        default: false
        }
    }

    static let system: @Sendable () -> Set<[UInt8]> = {
        Set(((try? System.enumerateDevices()) ?? []).compactMap { $0.address?.ipBytes })
    }
}
