import Dispatch
import Foundation
import Logging
import Synchronization

/// The embedded registry: a directory of YAML files (one per instance or per service), rescanned every
/// `interval`, so that instances added or removed are used within a second without a restart.
/// What cannot be read is never taken for "no instances": a file that does not parse, is too large or
/// cannot be read (EMFILE, EACCES, EIO) keeps its last good content, and a directory that cannot be listed
/// keeps every file as last read. Each problem is logged once.
/// Entries with a heartbeat (written by a provider's Mesher, see `InstanceFileWriter`) are dropped once it
/// is older than their ttl, judged at every scan even when no file changed.
public final class FileRegistry: ServiceDiscovery, ServiceRegistration {
    private struct FileState {
        /// nil: never read successfully, read again at the next scan.
        var stamp: FileStamp?
        var content: RegistryFile.Content
        /// When `content` was read: caps heartbeats from the future.
        var readAt: Double
        /// When a scan last saw this file as `content` says: expiry is judged as of then, so that nothing
        /// expires only because Mesher could not look (out of descriptors, directory gone).
        var checkedAt: Double
        /// The problem last logged for this file: said once, not at every scan.
        var problem: String?
    }

    private struct State {
        var files: [String: FileState] = [:]
        var snapshot = RegistrySnapshot()
        /// The directory was read once; when the view last changed.
        var scanned = false
        var lastChange = 0.0
        var directoryError: String?
        /// Entries already logged as expired.
        var expired: Set<String> = []
    }

    public let directory: String
    private let fileSystem: any RegistryFileSystem
    private let clock: @Sendable () -> Double
    private let logger: Logger
    private let writer: InstanceFileWriter
    private let state = Mutex(State())
    /// Dispatch sources are thread-safe; the type just is not marked Sendable.
    private nonisolated(unsafe) let timer = DispatchSource.makeTimerSource(
        queue: DispatchQueue(label: "mesher.file-registry"))
    private let watching = Mutex(false)

    /// `leaseTTL`: the ttl written with this Mesher's own instances. `clock`: unix seconds.
    public convenience init(
        directory: String, leaseTTL: Double = 10,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }, logger: Logger
    ) {
        self.init(
            directory: directory, leaseTTL: leaseTTL, fileSystem: PosixRegistryFileSystem(), clock: clock,
            logger: logger)
    }

    init(
        directory: String, leaseTTL: Double, fileSystem: any RegistryFileSystem,
        clock: @escaping @Sendable () -> Double, logger: Logger
    ) {
        self.directory = directory
        self.fileSystem = fileSystem
        self.clock = clock
        self.logger = logger
        writer = InstanceFileWriter(ttl: leaseTTL, fileSystem: fileSystem, clock: clock, logger: logger)
        rescan()
    }

    public var snapshot: RegistrySnapshot { state.withLock { $0.snapshot } }

    public var sync: RegistrySync {
        state.withLock {
            RegistrySync(synced: $0.scanned && $0.directoryError == nil, lastChange: $0.lastChange)
        }
    }

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

    /// Stops refreshing this Mesher's own instance files (after deregistering, they are gone anyway).
    public func stop() {
        writer.stop()
    }

    deinit {
        timer.setEventHandler {}
        if !watching.withLock({ $0 }) { timer.resume() }
        timer.cancel()
        writer.stop()
    }

    /// Reads what changed since the last scan and drops expired entries; returns whether the snapshot changed.
    @discardableResult
    public func rescan() -> Bool {
        let now = clock()
        var files = state.withLock { $0.files }
        if let names = listNames() {
            var seen: [String: FileState] = [:]
            for name in names {
                let path = directory + "/" + name
                if let file = look(at: path, previous: files[path], now: now) { seen[path] = file }
            }
            files = seen
        }
        return update(files)
    }

    /// The registry files of the directory, or nil (logged once) when it cannot be listed.
    private func listNames() -> [String]? {
        do {
            let names = try fileSystem.list(directory).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            let recovered = state.withLock { state in
                defer { state.directoryError = nil }
                return state.directoryError != nil
            }
            if recovered { logger.info("registry directory readable again", metadata: ["directory": "\(directory)"]) }
            return names.sorted()
        } catch {
            let message = error.description
            let isNew = state.withLock { state in
                defer { state.directoryError = message }
                return state.directoryError != message
            }
            if isNew {
                logger.warning(
                    "registry directory unreadable, keeping the registry as last read",
                    metadata: ["directory": "\(directory)", "error": "\(message)"])
            }
            return nil
        }
    }

    /// The file's state after this scan; nil when it is gone.
    private func look(at path: String, previous: FileState?, now: Double) -> FileState? {
        let stamp: FileStamp
        switch fileSystem.stamp(path) {
        case .gone:
            return nil
        case .failed(let error):
            return kept(previous, path: path, problem: "\(error)", now: now)
        case .file(let current):
            stamp = current
        }
        if var known = previous, known.stamp == stamp {
            known.checkedAt = now
            return known
        }
        do {
            guard stamp.size <= RegistryFile.maxSize else { throw RegistryReadError.tooLarge }
            let bytes = try fileSystem.read(path, limit: RegistryFile.maxSize)
            let content = try RegistryFile.parse(bytes, source: path)
            if previous?.problem != nil { logger.info("registry file usable again", metadata: ["file": "\(path)"]) }
            return FileState(stamp: stamp, content: content, readAt: now, checkedAt: now)
        } catch RegistryReadError.system(let error) {
            // EMFILE, EACCES, EIO: Mesher's trouble, not the file's. The old stamp stays, so it is read again
            // at the next scan; and so does the old check time, so nothing in it expires meanwhile.
            return kept(previous, path: path, problem: "\(error)", now: now)
        } catch {
            // Too large, not UTF-8, not a registry file: read again only once it changes.
            let problem =
                error as? RegistryReadError == .tooLarge ? "larger than \(RegistryFile.maxSize) bytes" : "\(error)"
            var file = kept(previous, path: path, problem: problem, now: now)
            file.stamp = stamp
            file.checkedAt = now
            return file
        }
    }

    /// The last good content of a file that cannot be used now, with its problem logged once.
    private func kept(_ previous: FileState?, path: String, problem: String, now: Double) -> FileState {
        var file = previous ?? FileState(stamp: nil, content: RegistryFile.Content(), readAt: now, checkedAt: now)
        if file.problem != problem {
            logger.error(
                "registry file ignored, keeping its last good content",
                metadata: ["file": "\(path)", "error": "\(problem)"])
        }
        file.problem = problem
        return file
    }

    private func update(_ files: [String: FileState]) -> Bool {
        let paths = files.keys.sorted()
        let snapshot = RegistrySnapshot(
            merging: paths.map { files[$0]!.content.snapshot(at: files[$0]!.checkedAt, readAt: files[$0]!.readAt) })
        var expired: [(String, RegistryFile.Listing)] = []
        for path in paths {
            let file = files[path]!
            for listing in file.content.listings where listing.isExpired(at: file.checkedAt, readAt: file.readAt) {
                expired.append((path, listing))
            }
        }
        let expiredKeys = Set(expired.map { Self.key($0.0, $0.1.instance) })
        let now = Date().timeIntervalSince1970
        let (changed, newlyExpired) = state.withLock { state in
            let newlyExpired = expired.filter { !state.expired.contains(Self.key($0.0, $0.1.instance)) }
            state.files = files
            state.expired = expiredKeys
            if !state.scanned { (state.scanned, state.lastChange) = (true, now) }
            guard state.snapshot != snapshot else { return (false, newlyExpired) }
            state.snapshot = snapshot
            state.lastChange = now
            return (true, newlyExpired)
        }
        for (path, listing) in newlyExpired {
            logger.warning(
                "registry instance expired: its heartbeat is older than its ttl",
                metadata: [
                    "file": "\(path)", "service": "\(listing.instance.service)",
                    "address": "\(listing.instance.address)", "port": "\(listing.instance.port)",
                    "ttl": "\(listing.ttl ?? 0)",
                ])
        }
        if changed {
            logger.info(
                "registry changed",
                metadata: [
                    "services": "\(snapshot.serviceNames.count)",
                    "instances": "\(snapshot.services.values.map(\.count).reduce(0, +))",
                ])
        }
        return changed
    }

    private static func key(_ path: String, _ instance: ServiceInstance) -> String {
        "\(path)#\(instance.service)/\(instance.address):\(instance.port)"
    }

    /// Writes `instance` to a file of its own, with a heartbeat kept fresh until it is withdrawn.
    public func publish(_ instance: ServiceInstance, confirmed: @escaping @Sendable (String) -> Void) throws {
        let path = path(of: instance)
        try writer.publish(instance, to: path)
        confirmed(path)
    }

    public func withdraw(_ instance: ServiceInstance) throws {
        try writer.withdraw(path(of: instance))
    }

    /// What the heartbeat timer does at each tick (tests call it with their own clock).
    func refreshHeartbeats() {
        writer.refresh()
    }

    private func path(of instance: ServiceInstance) -> String {
        let address = instance.address.replacingOccurrences(of: ":", with: "_")
        return "\(directory)/\(instance.service)-\(address)-\(instance.port).yaml"
    }
}
