import Foundation
import Logging

/// Turning files into the view: each file's contribution (its unexpired instances by service), and only the
/// services whose contributions changed rebuilt.
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
                let old = state.contributions[path] ?? Contribution()
                state.files[path] = update
                guard let file = update else {
                    state.contributions[path] = nil
                    touched.formUnion(old.services.keys)
                    for service in old.services.keys { state.contributors[service]?.remove(path) }
                    continue
                }
                let (new, listings) = Self.contribution(of: file, path: path)
                state.contributions[path] = new
                expired += listings.filter { !old.expired.contains(Self.key(path, $0.instance)) }.map { (path, $0) }
                if let deadline = new.deadline, deadline != old.deadline {
                    state.deadlines.insert(Deadline(at: deadline, path: path))
                }
                guard new.services != old.services else { continue }
                for service in old.services.keys where new.services[service] == nil {
                    state.contributors[service]?.remove(path)
                }
                for service in new.services.keys { state.contributors[service, default: []].insert(path) }
                touched.formUnion(old.services.keys)
                touched.formUnion(new.services.keys)
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
                guard state.contributions[next.path]?.deadline == next.at, var file = state.files[next.path] else {
                    continue
                }
                if !file.stale && state.inSync { file.checkedAt = now }
                updates[next.path] = file
            }
            return updates
        }
        if !updates.isEmpty { apply(updates, now: now) }
    }

    /// What `file` gives the view as of its check time, and its expired listings.
    static func contribution(of file: FileState, path: String) -> (Contribution, [RegistryFile.Listing]) {
        var contribution = Contribution()
        var expired: [RegistryFile.Listing] = []
        for name in file.content.services { contribution.services[name.lowercased()] = [] }
        for listing in file.content.listings {
            if listing.isExpired(at: file.checkedAt, readAt: file.readAt) {
                contribution.expired.insert(key(path, listing.instance))
                expired.append(listing)
                continue
            }
            contribution.services[listing.instance.service.lowercased(), default: []].append(listing.instance)
            if let heartbeat = listing.heartbeat, let ttl = listing.ttl {
                contribution.deadline = min(contribution.deadline ?? .infinity, min(heartbeat, file.readAt) + ttl)
            }
        }
        return (contribution, expired)
    }

    /// Sets `service` from the files naming it, in path order; whether that changed it.
    private static func rebuild(_ service: String, in state: inout State) -> Bool {
        guard let paths = state.contributors[service], !paths.isEmpty else {
            state.contributors[service] = nil
            return state.snapshot.set(service, nil)
        }
        return state.snapshot.set(service, paths.sorted().flatMap { state.contributions[$0]?.services[service] ?? [] })
    }

    static func key(_ path: String, _ instance: ServiceInstance) -> String {
        "\(path)#\(instance.service)/\(instance.address):\(instance.port)"
    }
}
