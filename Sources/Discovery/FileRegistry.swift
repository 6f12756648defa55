import Dispatch
import Foundation
import HeapModule
import Logging
import Synchronization

/// The embedded registry: a directory of YAML files (one per instance or per service). An inotify watch on the
/// directory says which files changed, and only those are read again, so an idle Mesher costs nothing however
/// many files there are, and a change is used within milliseconds. A full scan every `FileRegistry.Timing`'s
/// `fullScan` is the safety net (and the way, every `poll`, when there is no watch to be had).
/// What cannot be read is never taken for "no instances": a file that does not parse, is too large or
/// cannot be read (EMFILE, EACCES, EIO) keeps its last good content, and a directory that cannot be listed
/// keeps every file as last read. Each problem is logged once.
/// Entries with a heartbeat (written by a provider's Mesher, see `InstanceFileWriter`) are dropped once it
/// is older than their ttl: a timer wakes at the next such moment.
/// A change rebuilds the services of the files that changed, not the view.
public final class FileRegistry: ServiceDiscovery, ServiceRegistration {
    public struct Timing: Sendable {
        /// Full scans while the directory is watched.
        public var fullScan: DispatchTimeInterval
        /// Full scans while it is not (no inotify, no directory yet).
        public var poll: DispatchTimeInterval

        public init(fullScan: DispatchTimeInterval = .seconds(120), poll: DispatchTimeInterval = .milliseconds(250)) {
            self.fullScan = fullScan
            self.poll = poll
        }
    }

    struct FileState {
        /// nil: never read successfully, read again at the next look.
        var stamp: FileStamp?
        var content: RegistryFile.Content
        /// When `content` was read: caps heartbeats from the future.
        var readAt: Double
        /// When Mesher last knew this file to be as `content` says: expiry is judged as of then, so that nothing
        /// expires only because Mesher could not look (out of descriptors, directory gone).
        var checkedAt: Double
        /// The problem last logged for this file: said once, not at every scan.
        var problem: String?
        /// It could not be looked at (a failed stat or read): its check time stays where it was.
        var stale = false
        /// Its listings expired as of `checkedAt` (indices), and when the next one expires.
        var expired: [Int] = []
        var deadline: Double?
    }

    struct Deadline: Comparable {
        var at: Double
        var path: String

        static func < (a: Self, b: Self) -> Bool { (a.at, a.path) < (b.at, b.path) }
    }

    struct State {
        var files: [String: FileState] = [:]
        /// The files naming each service.
        var contributors: [String: Set<String>] = [:]
        /// Files' expiry moments; an entry whose file has another deadline by now is stale and skipped.
        var deadlines = Heap<Deadline>()
        var snapshot = RegistrySnapshot()
        var watchers: [@Sendable (RegistrySnapshot, RegistryChange) -> Void] = []
        /// The directory was read whole; the last full scan could read it; times it became so; when the view
        /// last changed.
        var scanned = false
        var inSync = false
        var syncs = 0
        var lastChange = 0.0
        var directoryError: String?
        /// An inotify watch is on the directory; whether it is on a local file system (nil: not known yet).
        var watched = false
        var local: Bool?
        var nextFullScan = 0.0
        /// What the timer is set to.
        var wakeAt = -1.0
    }

    public let directory: String
    let fileSystem: any RegistryFileSystem
    let clock: @Sendable () -> Double
    let logger: Logger
    let timing: Timing
    private let writer: InstanceFileWriter
    let state = Mutex(State())
    /// Scans, watch events and expiries run here, one at a time.
    let queue = DispatchQueue(label: "mesher.file-registry")
    /// Dispatch sources are thread-safe; the types just are not marked Sendable.
    nonisolated(unsafe) let timer: any DispatchSourceTimer
    nonisolated(unsafe) var events: (any DispatchSourceRead)?
    private let watching = Mutex(false)

    /// `leaseTTL`: the ttl written with this Mesher's own instances. `clock`: unix seconds.
    public convenience init(
        directory: String, leaseTTL: Double = 10, timing: Timing = Timing(),
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }, logger: Logger
    ) {
        self.init(
            directory: directory, leaseTTL: leaseTTL, fileSystem: PosixRegistryFileSystem(), timing: timing,
            clock: clock, logger: logger)
    }

    init(
        directory: String, leaseTTL: Double, fileSystem: any RegistryFileSystem, timing: Timing = Timing(),
        clock: @escaping @Sendable () -> Double, logger: Logger
    ) {
        self.directory = directory
        self.fileSystem = fileSystem
        self.clock = clock
        self.logger = logger
        self.timing = timing
        timer = DispatchSource.makeTimerSource(queue: queue)
        writer = InstanceFileWriter(ttl: leaseTTL, fileSystem: fileSystem, clock: clock, logger: logger)
        rescan()
    }

    public var snapshot: RegistrySnapshot { state.withLock { $0.snapshot } }

    public var sync: RegistrySync {
        state.withLock {
            RegistrySync(synced: $0.scanned && $0.directoryError == nil, lastChange: $0.lastChange, syncs: $0.syncs)
        }
    }

    public func watch(_ apply: @escaping @Sendable (RegistrySnapshot, RegistryChange) -> Void) {
        state.withLock {
            $0.watchers.append(apply)
            apply($0.snapshot, .all)
        }
    }

    /// Watches the directory (inotify) and wakes for expiries and the full scans.
    public func startWatching() {
        guard
            watching.withLock({
                let was = $0
                $0 = true
                return !was
            })
        else { return }
        timer.setEventHandler { [weak self] in self?.tick() }
        timer.schedule(deadline: .now())
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
        events?.cancel()
        writer.stop()
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
