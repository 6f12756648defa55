import Limits
import Logging
import NIOCore
import Synchronization

/// Shared by every connection of every listener, immutable once the proxy runs.
struct ProxyEnvironment: Sendable {
    var settings: ProxySettings
    var loopGuard: LoopGuard
    var logger: Logger
    var accessLog: AccessLog?
    /// Set when a drain begins: the time by which every connection must have closed.
    var drain = DrainDeadline()
    /// HTTP/2 stream resets by client address, across its connections.
    let resets: ClientResetBudget
    /// Response bytes held for HTTP/2 clients that have not taken them yet, every connection together.
    let slowReaders: ByteBudget

    init(settings: ProxySettings, loopGuard: LoopGuard, logger: Logger, accessLog: AccessLog?) {
        self.settings = settings
        self.loopGuard = loopGuard
        self.logger = logger
        self.accessLog = accessLog
        resets = ClientResetBudget(
            maxResets: settings.http2.maxResets, window: UInt64(max(settings.http2.resetWindow.nanoseconds, 0)))
        slowReaders = ByteBudget(limit: settings.http2.slowReaderBytes)
    }
}

/// When a drain must be over. Read once per connection, when the connection is told to quiesce.
final class DrainDeadline: Sendable {
    private let deadline = Mutex<NIODeadline?>(nil)

    func set(_ value: NIODeadline) { deadline.withLock { $0 = value } }
    var value: NIODeadline? { deadline.withLock { $0 } }
}
