import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// What every listening socket gets: the connection cap, and a pause instead of a spin when accept fails
/// for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM leave the socket readable).
enum ListenerGuards {
    /// How long accepting pauses after such a failure.
    static let acceptBackoff = TimeAmount.milliseconds(500)
    /// At most one log line per listener in this long about failed accepts.
    static let logInterval = TimeAmount.seconds(10)

    static func install(on channel: any Channel, name: String, limiter: ConnectionLimiter, logger: Logger) throws {
        let loop = channel.eventLoop
        let lastLog = NIOLoopBoundBox(NIODeadline.uptimeNanoseconds(0), eventLoop: loop)
        let backoff = AcceptBackoffHandler(shouldForwardIOErrorCaught: false) { error in
            if loop.now - lastLog.value >= logInterval {
                lastLog.value = loop.now
                logger.warning(
                    "cannot accept connections, pausing",
                    metadata: ["listener": "\(name)", "error": "\(error)", "pause": "\(acceptBackoff)"])
            }
            return acceptBackoff
        }
        let limit = AcceptLimitHandler(limiter: limiter) {
            logger.warning(
                "connection limit reached, accepting paused",
                metadata: ["listener": "\(name)", "limit": "\(limiter.limit)"])
        }
        try channel.pipeline.syncOperations.addHandlers(backoff, limit)
    }
}

/// The process's descriptor limit: raised to its hard limit at start (HAProxy and nginx do the same), and
/// what it leaves for connections.
public enum FileDescriptorLimit {
    /// Descriptors kept for everything but downstream connections and their upstreams (listeners, the
    /// registry, logs, health checks, DNS forwards), at most a quarter of the limit.
    static let reserve = 128

    /// Raises the soft limit to the hard one; the soft limit now in force.
    @discardableResult
    public static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// Connections that fit: each costs up to two descriptors (its own and its upstream's).
    public static func connectionsThatFit(descriptors: Int, otherwiseReserved: Int) -> Int {
        max(1, (descriptors - min(reserve + otherwiseReserved, descriptors / 4)) / 2)
    }

    /// The soft limit in force.
    public static var current: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int(clamping: limit.rlim_cur)
    }
}
