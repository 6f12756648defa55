import Dispatch
import Limits
import MesherBase
import NIOCore

/// Hands freed memory back to the system once a peak is over: stalled HTTP/2 readers or a burst of
/// connections leave glibc holding their pages (40 MiB resident after a thousand stalled 1 MiB streams had
/// closed, against 2 MiB after `malloc_trim`). Looks every `interval` at two numbers, so an idle Mesher does
/// nothing else; trims once per peak, off the event loops.
final class MemoryReturn {
    static let interval = TimeAmount.seconds(5)
    /// What counts as a peak: bytes held for slow readers, or connections open beyond the quiet level.
    static let peakBytes = 8 << 20
    static let peakConnections = 256

    private let slowReaders: ByteBudget
    private let connections: ConnectionLimiter
    private let trim: () -> Void
    private var mostConnections = 0
    private var peakSeen = false

    /// `trim`: what gives the memory back (tests count the calls).
    init(
        slowReaders: ByteBudget, connections: ConnectionLimiter,
        trim: @escaping () -> Void = { DispatchQueue.global(qos: .utility).async { returnFreedMemory() } }
    ) {
        self.slowReaders = slowReaders
        self.connections = connections
        self.trim = trim
    }

    /// Every `interval`, on one event loop.
    func check() {
        let open = connections.count
        mostConnections = max(mostConnections, open)
        if slowReaders.takePeak() >= Self.peakBytes || mostConnections - open >= Self.peakConnections {
            peakSeen = true
        }
        guard peakSeen, slowReaders.current < Self.peakBytes / 8, open <= mostConnections / 2 else { return }
        peakSeen = false
        mostConnections = open
        trim()
    }

    func start(on eventLoop: any EventLoop) -> RepeatedTask {
        eventLoop.scheduleRepeatedTask(initialDelay: Self.interval, delay: Self.interval) { [self] _ in check() }
    }
}
