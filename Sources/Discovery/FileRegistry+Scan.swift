import Dispatch
import Foundation

/// Looking at the directory: all of it (the first time, on overflow, as a safety net), or the files a watch
/// event names.
extension FileRegistry {
    /// Reads every file that changed since it was last read, drops those gone and judges every expiry; returns
    /// whether the view changed.
    @discardableResult
    public func rescan() -> Bool {
        let now = clock()
        guard let names = listNames() else { return apply([:], now: now, listed: false) }
        let previous = state.withLock { $0.files }
        var updates: [String: FileState?] = [:]
        var seen: Set<String> = []
        for name in names {
            let path = directory + "/" + name
            seen.insert(path)
            let file = look(at: path, previous: previous[path], now: now)
            // The usual file, unchanged and with nothing expiring: no work past its stat.
            if let known = previous[path], let file, known.stamp == file.stamp, known.problem == file.problem,
                !known.stale, !file.stale, known.deadline.map({ $0 >= now }) ?? true
            {
                continue
            }
            updates[path] = file
        }
        for path in previous.keys where !seen.contains(path) { updates[path] = .some(nil) }
        // Files gone while the directory itself went (moved away mid-scan): not gone, unreadable.
        if updates.values.contains(where: { $0 == nil }), listNames() == nil {
            return apply([:], now: now, listed: false)
        }
        return apply(updates, now: now, listed: true)
    }

    /// Reads again the files of these names (from a watch event).
    @discardableResult
    func refresh(_ names: Set<String>) -> Bool {
        let names = names.filter(Self.isRegistryFile)
        guard !names.isEmpty else { return false }
        let now = clock()
        let previous = state.withLock { state in names.map { state.files[directory + "/" + $0] } }
        var updates: [String: FileState?] = [:]
        for (name, known) in zip(names, previous) {
            let path = directory + "/" + name
            updates[path] = look(at: path, previous: known, now: now)
        }
        return apply(updates, now: now)
    }

    static func isRegistryFile(_ name: String) -> Bool { name.hasSuffix(".yaml") || name.hasSuffix(".yml") }

    /// The registry files of the directory, or nil (logged once) when it cannot be listed.
    private func listNames() -> [String]? {
        do {
            let names = try fileSystem.list(directory).filter(Self.isRegistryFile)
            let recovered = state.withLock { state in
                defer { state.directoryError = nil }
                return state.directoryError != nil
            }
            if recovered { logger.info("registry directory readable again", metadata: ["directory": "\(directory)"]) }
            return names
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

    /// The file's state now; nil when it is gone.
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
            known.stale = false
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
            // at the next look; and so does the old check time, so nothing in it expires meanwhile.
            return kept(previous, path: path, problem: "\(error)", now: now)
        } catch {
            // Too large, not UTF-8, not a registry file: read again only once it changes.
            let problem =
                error as? RegistryReadError == .tooLarge ? "larger than \(RegistryFile.maxSize) bytes" : "\(error)"
            var file = kept(previous, path: path, problem: problem, now: now)
            file.stamp = stamp
            file.checkedAt = now
            file.stale = false
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
        file.stale = true
        return file
    }

    // MARK: - The watch and the timer (on `queue`)

    /// The timer: a full scan when one is due (at each tick while there is no watch, and once a watch starts:
    /// what changed before it is seen by no event), else the expiries due.
    func tick() {
        let now = clock()
        // The timer fired: it is set again below, whatever for.
        state.withLock { $0.wakeAt = -1 }
        let started = !state.withLock { $0.watched } && startEvents()
        let (watched, scanDue) = state.withLock { ($0.watched, now >= $0.nextFullScan) }
        if started || scanDue || !watched {
            rescan()
            state.withLock { $0.nextFullScan = now + (watched ? timing.fullScan : timing.poll).seconds }
        } else {
            expireDue(now: now)
        }
        reschedule()
    }

    /// Wakes the timer at the next full scan or expiry, whichever comes first; left alone when that moment
    /// did not change (the usual file change: re-arming a dispatch timer wakes dispatch's manager thread).
    func reschedule() {
        let now = clock()
        let next = state.withLock { state -> Double? in
            let next = min(state.nextFullScan, state.deadlines.min?.at ?? .infinity)
            guard next != state.wakeAt else { return nil }
            state.wakeAt = next
            return next
        }
        // A millisecond late: an entry expires once its ttl is strictly past.
        if let next { timer.schedule(deadline: .now() + max(0, next - now) + 0.001, leeway: .milliseconds(5)) }
    }

    /// Adds the inotify watch, if the directory is there and inotify has room; whether it did.
    private func startEvents() -> Bool {
        // On a network file system inotify sees this machine's writes only: polled, as said once.
        let local = state.withLock { $0.local } ?? DirectoryWatch.isLocal(directory)
        let first = state.withLock { state in
            defer { state.local = local }
            return state.local == nil && local != nil
        }
        if first && local == false {
            logger.info(
                "registry directory on a network file system: scanned at every poll, not watched",
                metadata: ["directory": "\(directory)", "poll": "\(timing.poll)"])
        }
        guard local == true, let watch = DirectoryWatch(directory: directory) else { return false }
        let source = DispatchSource.makeReadSource(fileDescriptor: watch.descriptor, queue: queue)
        source.setEventHandler { [weak self] in
            guard let self else { return }
            switch watch.drain() {
            case .names(let names):
                if !names.isEmpty { self.refresh(names) }
            case .everything:
                self.rescan()
            case .lost:
                self.stopEvents()
                self.rescan()
            }
            self.reschedule()
        }
        // The descriptor closes with the watch, once the source is done with it.
        source.setCancelHandler { withExtendedLifetime(watch) {} }
        events = source
        state.withLock { $0.watched = true }
        source.resume()
        return true
    }

    /// The watch is gone with its directory: polled for from the next tick on.
    private func stopEvents() {
        events?.cancel()
        events = nil
        state.withLock { ($0.watched, $0.nextFullScan) = (false, 0) }
    }
}

extension DispatchTimeInterval {
    var seconds: Double {
        switch self {
        case .seconds(let value): Double(value)
        case .milliseconds(let value): Double(value) / 1e3
        case .microseconds(let value): Double(value) / 1e6
        case .nanoseconds(let value): Double(value) / 1e9
        case .never: .infinity
        @unknown default: .infinity
        }
    }
}
