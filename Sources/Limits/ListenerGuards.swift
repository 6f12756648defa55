import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// What every listening socket gets: the connection cap, and a pause instead of a spin when accept fails
/// for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM leave the socket readable).
public enum ListenerGuards {
    /// How long accepting pauses after such a failure.
    public static let acceptBackoff = TimeAmount.milliseconds(500)

    private enum Warning: Hashable, Sendable {
        case acceptFailed(String)
        case limitReached(String)
    }

    /// One line per listener and kind in 10 s, however often accepting pauses.
    private static let warnings = RateLimitedLog<Warning>()

    public static func install(on channel: any Channel, name: String, limiter: ConnectionLimiter, logger: Logger)
        throws
    {
        let backoff = AcceptBackoffHandler(shouldForwardIOErrorCaught: false) { error in
            warnings.log(
                .acceptFailed(name), "cannot accept connections, pausing",
                metadata: ["listener": "\(name)", "error": "\(error)", "pause": "\(acceptBackoff)"], to: logger)
            return acceptBackoff
        }
        let limit = AcceptLimitHandler(limiter: limiter) {
            warnings.log(
                .limitReached(name), "connection limit reached, accepting paused",
                metadata: ["listener": "\(name)", "limit": "\(limiter.limit)"], to: logger)
        }
        try channel.pipeline.syncOperations.addHandlers(backoff, limit)
    }
}

/// The process's descriptor limit: raised to its hard limit at start (HAProxy and nginx do the same), and
/// what it leaves for connections.
public enum FileDescriptorLimit {
    /// Descriptors kept for everything but downstream connections and their upstreams (listeners, the
    /// registry, logs, health checks, DNS forwards), at most a quarter of the limit.
    public static let reserve = 128

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
