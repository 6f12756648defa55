import Foundation
import Logging
import Synchronization

@testable import Discovery

/// Unix seconds that move only when a test says so.
final class FakeClock: Sendable {
    private let time = Mutex<Double>(1_800_000_000)

    var now: Double { time.withLock { $0 } }
    var source: @Sendable () -> Double { { self.now } }

    func advance(_ seconds: Double) {
        time.withLock { $0 += seconds }
    }
}

/// Every line logged, as "level message metadata".
final class LogRecorder: Sendable {
    let lines = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "test") { _ in RecordingHandler(recorder: self) }
    }

    func count(_ fragment: String) -> Int {
        lines.withLock { $0.filter { $0.contains(fragment) }.count }
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

private struct RecordingHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        recorder.lines.withLock { $0.append("\(event.level) \(event.message) \(fields.joined(separator: " "))") }
    }
}

/// The real file system, with failures a test turns on and off per call and file name (errno values as
/// Mesher meets them: EMFILE when out of descriptors, EACCES, EIO).
final class FaultyFileSystem: RegistryFileSystem {
    struct Faults {
        var list: Int32?
        var stamp: [String: Int32] = [:]
        var read: [String: Int32] = [:]
        var write: Int32?
        var writes = 0
    }

    let faults = Mutex(Faults())
    private let real = PosixRegistryFileSystem()

    var writes: Int { faults.withLock { $0.writes } }

    func list(_ directory: String) throws(SystemCallError) -> [String] {
        if let code = faults.withLock({ $0.list }) { throw SystemCallError("opendir", code) }
        return try real.list(directory)
    }

    func stamp(_ path: String) -> StampResult {
        if let code = faults.withLock({ $0.stamp[Self.name(path)] }) { return .failed(SystemCallError("stat", code)) }
        return real.stamp(path)
    }

    func read(_ path: String, limit: Int) throws(RegistryReadError) -> [UInt8] {
        if let code = faults.withLock({ $0.read[Self.name(path)] }) { throw .system(SystemCallError("open", code)) }
        return try real.read(path, limit: limit)
    }

    func writeAtomically(_ text: String, to path: String) throws(SystemCallError) {
        let code = faults.withLock { faults in
            faults.writes += 1
            return faults.write
        }
        if let code { throw SystemCallError("open", code) }
        try real.writeAtomically(text, to: path)
    }

    func remove(_ path: String) throws(SystemCallError) {
        try real.remove(path)
    }

    private static func name(_ path: String) -> String { URL(fileURLWithPath: path).lastPathComponent }
}

/// A registry directory of its own, removed by `remove()` (call it in a `defer`).
struct TemporaryRegistry {
    let directory: String

    /// A new directory, or `directory` made again.
    init(
        directory: String = FileManager.default.temporaryDirectory.appendingPathComponent("mesher-registry-\(UUID())")
            .path
    ) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }

    func write(_ name: String, bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name), options: .atomic)
    }

    func read(_ name: String) -> String {
        (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? ""
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

let accountService = "services:\n  AccountService:\n    - {address: 198.18.0.2, port: 8080}\n"
