import Dispatch
import Logging
import Synchronization

/// A provider's own instance files in the registry directory, each written with a heartbeat (unix seconds)
/// and the ttl after which readers count it gone, and rewritten every ttl/3 until it is withdrawn: a
/// provider whose Mesher crashes (no deregistration) leaves the registry within one ttl.
final class InstanceFileWriter: Sendable {
    private struct Entry {
        var instance: ServiceInstance
        /// Unix seconds of the last successful write.
        var written: Double
        /// The last refresh failure, logged once; while set, every tick tries again.
        var failure: String?
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var ticking = false
        var stopped = false
    }

    let ttl: Double
    private let fileSystem: any RegistryFileSystem
    private let clock: @Sendable () -> Double
    private let logger: Logger
    /// Writes happen inside this lock: a refresh can never rewrite a file that `withdraw` just removed.
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "mesher.instance-heartbeat")
    /// How often to look for files due: a failed write is retried this soon, not a third of a ttl later.
    private let tick: DispatchTimeInterval

    init(ttl: Double, fileSystem: any RegistryFileSystem, clock: @escaping @Sendable () -> Double, logger: Logger) {
        self.ttl = ttl
        self.fileSystem = fileSystem
        self.clock = clock
        self.logger = logger
        tick = .milliseconds(Int(min(250, ttl * 1000 / 3)))
    }

    /// A write that fails is thrown (for the caller's log) and retried at every tick until it succeeds.
    func publish(_ instance: ServiceInstance, to path: String) throws {
        let (startTicking, failure) = state.withLock { state -> (Bool, SystemCallError?) in
            let now = clock()
            var entry = Entry(instance: instance, written: now)
            var failure: SystemCallError?
            do throws(SystemCallError) {
                try fileSystem.writeAtomically(RegistryFile.render(instance, heartbeat: now, ttl: ttl), to: path)
            } catch {
                entry.failure = "\(error)"
                failure = error
            }
            state.entries[path] = entry
            let start = !state.ticking && !state.stopped
            if start { state.ticking = true }
            return (start, failure)
        }
        if startTicking { schedule() }
        if let failure { throw failure }
    }

    func withdraw(_ path: String) throws {
        try state.withLock { state throws(SystemCallError) in
            state.entries[path] = nil
            try fileSystem.remove(path)
        }
    }

    /// Rewrites the files whose heartbeat is a third of a ttl old, and those whose last write failed.
    func refresh() {
        var outcomes: [(path: String, failure: String?, previous: String?)] = []
        state.withLock { state in
            let now = clock()
            for (path, entry) in state.entries where entry.failure != nil || now - entry.written >= ttl / 3 {
                do {
                    try fileSystem.writeAtomically(
                        RegistryFile.render(entry.instance, heartbeat: now, ttl: ttl), to: path)
                    state.entries[path]?.written = now
                    state.entries[path]?.failure = nil
                    outcomes.append((path, nil, entry.failure))
                } catch {
                    state.entries[path]?.failure = "\(error)"
                    outcomes.append((path, "\(error)", entry.failure))
                }
            }
        }
        for outcome in outcomes where outcome.failure != outcome.previous {
            if let failure = outcome.failure {
                logger.error(
                    "cannot refresh the registry heartbeat, retrying",
                    metadata: ["file": "\(outcome.path)", "error": "\(failure)"])
            } else {
                logger.info("registry instance file written again", metadata: ["file": "\(outcome.path)"])
            }
        }
    }

    func stop() {
        state.withLock { $0.stopped = true }
    }

    /// Ticks while there is something to refresh; publishing again starts it anew.
    private func schedule() {
        queue.asyncAfter(deadline: .now() + tick) { [weak self] in
            guard let self else { return }
            self.refresh()
            let again = self.state.withLock { state in
                state.ticking = !state.entries.isEmpty && !state.stopped
                return state.ticking
            }
            if again { self.schedule() }
        }
    }
}
