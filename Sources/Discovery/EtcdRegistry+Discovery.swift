import Foundation
import MesherBase
import NIOCore

/// Discovery: read the prefix (in pages, as of one revision), then watch it from the next revision; each watch
/// reply changes the services it names.
extension EtcdRegistry {
    func synchronize(backoff: TimeAmount) {
        readAll().whenComplete { result in
            guard !self.state.withLock({ $0.stopped }) else { return }
            switch result {
            case .success(let (built, revision)):
                self.load(built)
                self.markReachable(true)
                self.watch(from: revision + 1)
            case .failure(let error):
                self.markReachable(false, error)
                self.retry(after: backoff) { self.synchronize(backoff: min(backoff * 2, .seconds(5))) }
            }
        }
    }

    /// Keys read per request: a page stays far below the reply size bound however large the registry.
    static let pageSize = 500

    /// Every instance under the prefix, page by page, all pages as of the first one's revision (a consistent
    /// view, watched from the next revision on). Pages are added to `read` in place.
    private func readAll(
        from start: String? = nil, revision: Int? = nil, into read: RangeRead = RangeRead()
    ) -> EventLoopFuture<(EtcdView.Builder, Int)> {
        var range = [
            "key": start ?? EtcdClient.base64(servicesPrefix), "range_end": EtcdClient.rangeEnd(servicesPrefix),
            "limit": "\(Self.pageSize)",
        ]
        if let revision { range["revision"] = "\(revision)" }
        return client.call("/v3/kv/range", range, as: EtcdRangeReply.self).flatMap { reply in
            // Every range reply of etcd has a revision; JSON without one (`{}`, a proxy's error) is not an empty
            // registry but no answer, and must not replace the view.
            guard let pinned = revision ?? (reply.header?.revision).flatMap(Int.init) else {
                return self.client.group.next().makeFailedFuture(
                    EtcdClient.Failure(description: "not a range reply (no revision)"))
            }
            let decoder = JSONDecoder()
            for kv in reply.kvs ?? [] {
                if let (key, instance) = self.decode(kv, decoder), let (service, suffix) = self.layout.locate(key) {
                    read.built.add(service, suffix, instance)
                }
            }
            guard reply.more == true, let last = reply.kvs?.last.flatMap({ Data(base64Encoded: $0.key) }) else {
                return self.client.group.next().makeSucceededFuture((read.built, pinned))
            }
            // The next page starts just after the last key read; a reply that does not move forward (no etcd
            // sends one) ends the read, or it would never end.
            let begin = Data(base64Encoded: range["key"]!) ?? Data()
            guard begin.lexicographicallyPrecedes(last) else {
                return self.client.group.next().makeFailedFuture(
                    EtcdClient.Failure(description: "range reply does not move past its first key"))
            }
            return self.readAll(from: (last + [0]).base64EncodedString(), revision: pinned, into: read)
        }
    }

    private func watch(from revision: Int) {
        let request = [
            "key": EtcdClient.base64(servicesPrefix), "range_end": EtcdClient.rangeEnd(servicesPrefix),
            "start_revision": "\(revision)",
        ]
        client.watch(request, endpoint: 0) { line in
            guard let reply = try? JSONDecoder().decode(EtcdWatchReply.self, from: line) else { return true }
            self.apply(reply.result?.events ?? [])
            // etcd cancels a watch (compacted revision, an error) and keeps the stream open: end it, or the
            // view would stay as it is for good.
            return reply.result?.canceled != true
        }.whenComplete { _ in
            guard !self.state.withLock({ $0.stopped }) else { return }
            // The stream ended (etcd restarted, compaction, network): read everything again.
            self.markReachable(false, nil)
            self.retry(after: .milliseconds(200)) { self.synchronize(backoff: .milliseconds(200)) }
        }
    }

    /// One watch reply's events, applied together: the services they touch change, nothing else.
    private func apply(_ events: [EtcdWatchReply.Event]) {
        var changes: [(key: String, instance: ServiceInstance?)] = []
        for event in events {
            guard let key = EtcdClient.text(base64: event.kv.key) else { continue }
            if event.type == "DELETE" {
                changes.append((key, nil))
            } else if let (_, instance) = decode(event.kv) {
                changes.append((key, instance))
            }
        }
        guard !changes.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        state.withLock { state in
            var changed: Set<String> = []
            for (key, instance) in changes {
                if let service = state.view.apply(key: key, instance: instance) { changed.insert(service) }
            }
            guard !changed.isEmpty else { return }
            state.lastChange = now
            for watcher in state.watchers { watcher(state.view.snapshot, .services(changed)) }
        }
    }

    /// A key another writer filled with something that is not an instance of the service the key names is
    /// skipped, with a log line.
    private func decode(_ kv: EtcdKeyValue, _ decoder: JSONDecoder = JSONDecoder()) -> (String, ServiceInstance)? {
        guard let key = EtcdClient.text(base64: kv.key) else { return nil }
        guard let value = EtcdClient.text(base64: kv.value),
            let record = try? decoder.decode(InstanceRecord.self, from: Data(value.utf8)),
            let service = record.service, let instance = try? record.instance(of: service),
            layout.accepts(key, instance)
        else {
            logger.warning("registry entry ignored: not an instance", metadata: ["key": "\(key)"])
            return nil
        }
        return (key, instance)
    }

    /// A full read: the view becomes exactly `entries`; watchers hear of the services that differ (of all of
    /// them the first time). Logged, with what the view holds.
    private func load(_ built: EtcdView.Builder) {
        let now = Date().timeIntervalSince1970
        let (services, instances) = state.withLock { state in
            let first = !state.loaded
            let changed = state.view.load(built)
            state.loaded = true
            state.syncs += 1
            if !changed.isEmpty || state.lastChange == 0 { state.lastChange = now }
            if first || !changed.isEmpty {
                for watcher in state.watchers { watcher(state.view.snapshot, first ? .all : .services(changed)) }
            }
            return (state.view.snapshot.services.count, state.view.snapshot.instanceCount)
        }
        // Once the read's pages and groupings are gone too (the future chain lets go of them after this).
        _ = client.group.next().scheduleTask(in: .milliseconds(100)) { returnFreedMemory() }
        logger.info(
            "registry in sync",
            metadata: [
                "registry": "etcd", "prefix": "\(prefix)", "services": "\(services)", "instances": "\(instances)",
            ])
    }

}

/// The pages of one full read so far: filled in place, one page after the other (a future chain, never two
/// at once), where passing an array along would copy it at each page.
final class RangeRead: @unchecked Sendable {
    var built = EtcdView.Builder()
}
