import Foundation
import Logging
import MesherBase

/// Turning files into the view: a file's listings judged as of its check time, and only the services of the
/// files that changed rebuilt. Nothing is kept per instance but its listing (the view holds the instances).
extension FileRegistry {
    /// Applies files' new states (nil: gone). `listed`: a full scan, which read the directory (true) or could
    /// not (false). Returns whether the view changed.
    @discardableResult
    func apply(_ updates: [String: FileState?], now: Double, listed: Bool? = nil) -> Bool {
        var expired: [(String, RegistryFile.Listing)] = []
        let wallClock = Date().timeIntervalSince1970
        let outcome = state.withLock { state in
            var touched: Set<String> = []
            for (path, update) in updates {
                let old = state.files[path]
                let oldNames = old.map(Self.names) ?? []
                guard var file = update else {
                    state.files[path] = nil
                    for service in oldNames { state.contributors[service]?.remove(path) }
                    touched.formUnion(oldNames)
                    continue
                }
                Self.judge(&file)
                let before = Set(old.map { old in old.expired.map { Self.key(path, old.content.listings[$0]) } } ?? [])
                expired += file.expired.map { file.content.listings[$0] }.filter {
                    !before.contains(Self.key(path, $0))
                }
                .map { (path, $0) }
                if let deadline = file.deadline, deadline != old?.deadline {
                    state.deadlines.insert(Deadline(at: deadline, path: path))
                }
                state.files[path] = file
                guard old?.content != file.content || old?.expired != file.expired else { continue }
                let names = Self.names(file)
                for service in oldNames.subtracting(names) { state.contributors[service]?.remove(path) }
                for service in names { state.contributors[service, default: []].insert(path) }
                touched.formUnion(oldNames)
                touched.formUnion(names)
            }
            var changed: Set<String> = []
            for service in touched where Self.rebuild(service, in: &state) { changed.insert(service) }
            // The first full scan makes the view current, even of a directory not there yet (an empty registry).
            let first = listed != nil && !state.scanned
            let synced = listed == true && !state.inSync
            if let listed { (state.scanned, state.inSync) = (true, listed) }
            if synced { state.syncs += 1 }
            if !changed.isEmpty || first { state.lastChange = wallClock }
            if !changed.isEmpty {
                for watcher in state.watchers { watcher(state.snapshot, .services(changed)) }
            }
            return (changed: changed.count, synced: synced, state.snapshot.services.count, state.snapshot.instanceCount)
        }
        for (path, listing) in expired {
            logger.warning(
                "registry instance expired: its heartbeat is older than its ttl",
                metadata: [
                    "file": "\(path)", "service": "\(listing.instance.service)",
                    "address": "\(listing.instance.address)", "port": "\(listing.instance.port)",
                    "ttl": "\(listing.ttl ?? 0)",
                ])
        }
        let figures: Logger.Metadata = [
            "registry": "file", "directory": "\(directory)", "services": "\(outcome.2)", "instances": "\(outcome.3)",
        ]
        if outcome.synced {
            // Once the scan's file states are gone too (after the work item that scanned).
            queue.async { returnFreedMemory() }
            logger.info("registry in sync", metadata: figures)
        } else if outcome.changed > 0 {
            logger.info("registry changed", metadata: figures.merging(["changed": "\(outcome.changed)"]) { $1 })
        }
        return outcome.changed > 0
    }

    /// Files whose next expiry is past, judged again as of `now` (unless Mesher cannot look at them now).
    func expireDue(now: Double) {
        let updates = state.withLock { state -> [String: FileState?] in
            var updates: [String: FileState?] = [:]
            while let next = state.deadlines.min, next.at < now {
                state.deadlines.removeMin()
                guard var file = state.files[next.path], file.deadline == next.at else { continue }
                if !file.stale && state.inSync { file.checkedAt = now }
                updates[next.path] = file
            }
            return updates
        }
        if !updates.isEmpty { apply(updates, now: now) }
    }

    /// Which listings of `file` have expired as of its check time, and when the next one will.
    static func judge(_ file: inout FileState) {
        file.expired = []
        file.deadline = nil
        for (index, listing) in file.content.listings.enumerated() {
            if listing.isExpired(at: file.checkedAt, readAt: file.readAt) {
                file.expired.append(index)
            } else if let heartbeat = listing.heartbeat, let ttl = listing.ttl {
                file.deadline = min(file.deadline ?? .infinity, min(heartbeat, file.readAt) + ttl)
            }
        }
    }

    /// The services `file` names (lowercased), with instances or without.
    static func names(_ file: FileState) -> Set<String> {
        Set(
            file.content.services.map { $0.lowercased() }
                + file.content.listings.map { $0.instance.service.lowercased() })
    }

    /// Sets `service` from the files naming it, in path order, less their expired listings; whether that
    /// changed it.
    private static func rebuild(_ service: String, in state: inout State) -> Bool {
        guard let paths = state.contributors[service], !paths.isEmpty else {
            state.contributors[service] = nil
            return state.snapshot.set(service, nil)
        }
        var instances: [ServiceInstance] = []
        for path in paths.sorted() {
            guard let file = state.files[path] else { continue }
            for (index, listing) in file.content.listings.enumerated()
            where listing.instance.service.lowercased() == service && !file.expired.contains(index) {
                instances.append(listing.instance)
            }
        }
        // Exactly as large as it is: appending left up to twice the room.
        return state.snapshot.set(service, instances.withUnsafeBufferPointer(Array.init))
    }

    static func key(_ path: String, _ listing: RegistryFile.Listing) -> String {
        "\(path)#\(listing.instance.service)/\(listing.instance.address):\(listing.instance.port)"
    }
}
