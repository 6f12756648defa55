import NIOCore
import Synchronization

/// The open client connections of the TCP listeners: closing a listener does not close what it accepted.
final class DNSTCPConnections: Sendable {
    private let open = Mutex<[ObjectIdentifier: any Channel]>([:])

    func track(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        open.withLock { $0[key] = channel }
        channel.closeFuture.whenComplete { _ in
            self.open.withLock { $0[key] = nil }
        }
    }

    func closeAll() {
        for channel in open.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }
}
