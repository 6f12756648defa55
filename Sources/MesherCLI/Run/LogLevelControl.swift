import Logging
import Synchronization

/// The log level every logger of the process follows, changed at run time through the admin API
/// (`POST /logging?level=debug`): one atomic load per log call, no lock.
final class LogLevelControl: Sendable {
    private let level: Atomic<UInt8>

    init(_ level: Logger.Level) {
        self.level = Atomic(Self.code(level))
    }

    var current: Logger.Level {
        let levels = Logger.Level.allCases
        let code = Int(level.load(ordering: .relaxed))
        return code < levels.count ? levels[code] : .info
    }

    func set(_ value: Logger.Level) {
        level.store(Self.code(value), ordering: .relaxed)
    }

    private static func code(_ level: Logger.Level) -> UInt8 {
        UInt8(Logger.Level.allCases.firstIndex(of: level) ?? 3)
    }

    /// Standard error, at the shared level.
    func handler(label: String) -> any LogHandler {
        ControlledLogHandler(base: StreamLogHandler.standardError(label: label), control: self)
    }
}

/// A log handler whose level is the control's.
private struct ControlledLogHandler: LogHandler {
    var base: StreamLogHandler
    let control: LogLevelControl

    var logLevel: Logger.Level {
        get { control.current }
        set {}
    }

    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        base.log(event: event)
    }
}
