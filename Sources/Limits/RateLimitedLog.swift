import Dispatch
import Logging
import Synchronization

/// For log lines that can come once per packet (an upstream that fails, a limit reached): at most one line
/// per kind per `interval`, carrying how many were left out since the previous one, so that a flood of
/// queries (or of connections) cannot become a flood of log lines.
public final class RateLimitedLog<Kind: Hashable & Sendable>: Sendable {
    private struct Window {
        var start: UInt64
        var suppressed: Int
    }

    private let windows = Mutex<[Kind: Window]>([:])
    private let interval: UInt64
    private let now: @Sendable () -> UInt64

    /// `now`: a monotonic clock in nanoseconds (injectable for tests).
    public init(
        intervalSeconds: Double = 10,
        now: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }
    ) {
        interval = UInt64(intervalSeconds * 1e9)
        self.now = now
    }

    /// nil when this line is to be left out; otherwise how many lines of its kind were left out before it.
    public func admit(_ kind: Kind) -> Int? {
        let time = now()
        return windows.withLock { windows in
            if var window = windows[kind], time &- window.start < interval {
                window.suppressed += 1
                windows[kind] = window
                return nil
            }
            let suppressed = windows[kind]?.suppressed ?? 0
            windows[kind] = Window(start: time, suppressed: 0)
            return suppressed
        }
    }

    /// Logs unless a line of this kind was logged less than `interval` ago; adds `suppressed: N` when lines
    /// were left out. The line names the caller's module and place, as a direct log call would.
    public func log(
        _ kind: Kind, level: Logger.Level = .warning, _ message: @autoclosure () -> Logger.Message,
        metadata: @autoclosure () -> Logger.Metadata = [:], to logger: Logger, file: String = #fileID,
        function: String = #function, line: UInt = #line
    ) {
        guard let suppressed = admit(kind) else { return }
        var metadata = metadata()
        if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
        logger.log(level: level, message(), metadata: metadata, file: file, function: function, line: line)
    }
}
