import NIOCore
import Synchronization

/// Caps concurrent downstream connections across every listener. At the cap, listeners stop accepting
/// (the kernel's backlog holds new connections, nothing spins) and resume as connections close; a listener
/// that was already accepting may take the few more of that wake-up (NIO accepts up to 4 per read). One
/// atomic per connection opened and closed; the lock is taken only when a listener waits for room.
public final class ConnectionLimiter: Sendable {
    public let limit: Int
    private let open = Atomic<Int>(0)
    private let waiting = Mutex<[@Sendable () -> Void]>([])
    private let waiters = Atomic<Int>(0)

    public init(limit: Int) {
        self.limit = limit
    }

    public var count: Int { open.load(ordering: .relaxed) }
    public var isFull: Bool { count >= limit }

    public func opened() {
        open.add(1, ordering: .relaxed)
    }

    public func closed() {
        let now = open.subtract(1, ordering: .relaxed).newValue
        if now < limit && waiters.load(ordering: .acquiring) > 0 { wakeWaiting() }
    }

    /// Runs `action` once there is room (at once if there is).
    public func whenRoom(_ action: @escaping @Sendable () -> Void) {
        waiting.withLock { $0.append(action) }
        waiters.add(1, ordering: .releasing)
        // A connection may have closed between the caller's check and the append.
        if !isFull { wakeWaiting() }
    }

    private func wakeWaiting() {
        let resume = waiting.withLock { waiting in
            defer { waiting.removeAll() }
            return waiting
        }
        waiters.subtract(resume.count, ordering: .relaxed)
        for action in resume { action() }
    }
}

/// On a listening channel: counts accepted connections against the limiter and holds accepting at the cap.
public final class AcceptLimitHandler: ChannelDuplexHandler {
    public typealias InboundIn = any Channel
    public typealias OutboundIn = Never

    private let limiter: ConnectionLimiter
    /// Told once each time accepting pauses at the cap.
    private let onPause: () -> Void
    private var pendingRead = false

    public init(limiter: ConnectionLimiter, onPause: @escaping () -> Void) {
        self.limiter = limiter
        self.onPause = onPause
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        let limiter = self.limiter
        limiter.opened()
        child.closeFuture.whenComplete { _ in limiter.closed() }
        context.fireChannelRead(data)
    }

    public func read(context: ChannelHandlerContext) {
        guard limiter.isFull else { return context.read() }
        guard !pendingRead else { return }
        pendingRead = true
        onPause()
        let loop = context.eventLoop
        let resume = NIOLoopBound((self, context), eventLoop: loop)
        limiter.whenRoom {
            loop.execute {
                let (handler, context) = resume.value
                handler.pendingRead = false
                handler.read(context: context)
            }
        }
    }
}
