import Dispatch
import Foundation
import Logging
import Synchronization

/// The embedded registry: a directory of YAML files (one per instance or per service), rescanned every
/// `interval`, so that instances added or removed are used within a second without a restart.
/// A file that does not parse is reported once and its last good content is kept.
public final class FileRegistry: ServiceDiscovery, ServiceRegistration {
    private struct FileState {
        var stamp: Stamp
        var content: RegistrySnapshot
    }

    private struct Stamp: Equatable {
        var modified: timespec
        var size: off_t
        var inode: ino_t

        static func == (a: Stamp, b: Stamp) -> Bool {
            a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec && a.size == b.size
                && a.inode == b.inode
        }
    }

    private struct State {
        var files: [String: FileState] = [:]
        var snapshot = RegistrySnapshot()
        /// Said once, not at every scan.
        var directoryError: String?
    }

    public let directory: String
    private let logger: Logger
    private let state = Mutex(State())
    /// Dispatch sources are thread-safe; the type just is not marked Sendable.
    private nonisolated(unsafe) let timer = DispatchSource.makeTimerSource(
        queue: DispatchQueue(label: "mesher.file-registry"))
    private let watching = Mutex(false)

    public init(directory: String, logger: Logger) {
        self.directory = directory
        self.logger = logger
        rescan()
    }

    public var snapshot: RegistrySnapshot { state.withLock { $0.snapshot } }

    public func startWatching(interval: DispatchTimeInterval = .milliseconds(250)) {
        guard
            watching.withLock({
                let was = $0
                $0 = true
                return !was
            })
        else { return }
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [weak self] in self?.rescan() }
        timer.resume()
    }

    deinit {
        timer.setEventHandler {}
        if !watching.withLock({ $0 }) { timer.resume() }
        timer.cancel()
    }

    /// Reads what changed since the last scan; returns whether the snapshot changed.
    @discardableResult
    public func rescan() -> Bool {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
            state.withLock { $0.directoryError = nil }
        } catch {
            let message = error.localizedDescription
            let isNew = state.withLock { state in
                defer { state.directoryError = message }
                return state.directoryError != message
            }
            if isNew {
                logger.warning(
                    "registry directory unreadable", metadata: ["directory": "\(directory)", "error": "\(message)"])
            }
            names = []
        }
        let previous = state.withLock { $0.files }
        var files: [String: FileState] = [:]
        for name in names {
            let path = directory + "/" + name
            guard let stamp = Self.stamp(path) else { continue }
            if let known = previous[path], known.stamp == stamp {
                files[path] = known
                continue
            }
            do {
                let text = try String(contentsOfFile: path, encoding: .utf8)
                files[path] = FileState(stamp: stamp, content: try RegistryFile.parse(text, source: path))
            } catch {
                logger.error("registry file ignored, keeping its last good content", metadata: ["error": "\(error)"])
                files[path] = FileState(stamp: stamp, content: previous[path]?.content ?? RegistrySnapshot())
            }
        }
        let snapshot = RegistrySnapshot(merging: files.keys.sorted().map { files[$0]!.content })
        return state.withLock { state in
            state.files = files
            guard state.snapshot != snapshot else { return false }
            state.snapshot = snapshot
            logger.info(
                "registry changed",
                metadata: [
                    "services": "\(snapshot.serviceNames.count)",
                    "instances": "\(snapshot.services.values.map(\.count).reduce(0, +))",
                ])
            return true
        }
    }

    /// Writes `instance` to a file of its own (atomically: readers never see half a file).
    public func publish(_ instance: ServiceInstance) throws {
        try RegistryFile.render(instance).write(toFile: path(of: instance), atomically: true, encoding: .utf8)
        chmod(path(of: instance), 0o644)
    }

    public func withdraw(_ instance: ServiceInstance) throws {
        let path = path(of: instance)
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
    }

    private func path(of instance: ServiceInstance) -> String {
        let address = instance.address.replacingOccurrences(of: ":", with: "_")
        return "\(directory)/\(instance.service)-\(address)-\(instance.port).yaml"
    }

    private static func stamp(_ path: String) -> Stamp? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Stamp(modified: info.st_mtim, size: info.st_size, inode: info.st_ino)
    }
}
