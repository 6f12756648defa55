import Foundation
import Logging
import NIOCore
import Synchronization

/// The distributed registry: instances are keys under `<prefix>services/` held by a lease that Mesher keeps
/// alive; discovery reads the prefix and then watches it, so changes apply as etcd reports them. When etcd is
/// away Mesher serves its last view, retries with backoff, and re-registers (new lease) once it is back.
public final class EtcdRegistry: ServiceDiscovery, ServiceRegistration {
    private struct State {
        var entries: [String: ServiceInstance] = [:]
        var snapshot = RegistrySnapshot()
        var registered: [String: ServiceInstance] = [:]
        var lease: String?
        var stopped = false
        var reachable = true
    }

    private let client: EtcdClient
    private let prefix: String
    private let leaseTTL: Int
    private let logger: Logger
    private let state = Mutex(State())

    /// `endpoints` like "http://127.0.0.1:2379"; `prefix` like "/mesher/".
    public init(endpoints: [String], prefix: String, leaseTTL: Int = 10, group: any EventLoopGroup, logger: Logger) {
        let parsed = endpoints.compactMap { URL(string: $0) }.compactMap { url in
            url.host.map { (host: $0, port: url.port ?? 2379) }
        }
        client = EtcdClient(endpoints: parsed, group: group, timeout: .seconds(2))
        self.prefix = prefix.hasSuffix("/") ? prefix : prefix + "/"
        self.leaseTTL = leaseTTL
        self.logger = logger
    }

    public var snapshot: RegistrySnapshot { state.withLock { $0.snapshot } }

    private var servicesPrefix: String { prefix + "services/" }

    public func start() {
        synchronize(backoff: .milliseconds(200))
        keepLease()
    }

    public func stop() {
        state.withLock { $0.stopped = true }
    }

    // MARK: - Discovery: read the prefix, then watch it from the next revision

    private func synchronize(backoff: TimeAmount) {
        let range = ["key": EtcdClient.base64(servicesPrefix), "range_end": EtcdClient.rangeEnd(servicesPrefix)]
        client.call("/v3/kv/range", range, as: EtcdRangeReply.self).flatMapThrowing { reply in
            // Every range reply of etcd has a revision; JSON without one (`{}`, a proxy's error) is not an empty
            // registry but no answer, and must not replace the view.
            guard let revision = (reply.header?.revision).flatMap(Int.init) else {
                throw EtcdClient.Failure(description: "not a range reply (no revision)")
            }
            return (reply, revision)
        }.whenComplete { result in
            guard !self.state.withLock({ $0.stopped }) else { return }
            switch result {
            case .success(let (reply, revision)):
                var entries: [String: ServiceInstance] = [:]
                for kv in reply.kvs ?? [] {
                    if let (key, instance) = self.decode(kv) { entries[key] = instance }
                }
                self.replace(entries)
                self.markReachable(true)
                self.watch(from: revision + 1)
            case .failure(let error):
                self.markReachable(false, error)
                self.retry(after: backoff) { self.synchronize(backoff: min(backoff * 2, .seconds(5))) }
            }
        }
    }

    private func watch(from revision: Int) {
        let request = [
            "key": EtcdClient.base64(servicesPrefix), "range_end": EtcdClient.rangeEnd(servicesPrefix),
            "start_revision": "\(revision)",
        ]
        client.watch(request, endpoint: 0) { line in
            guard let reply = try? JSONDecoder().decode(EtcdWatchReply.self, from: line) else { return true }
            for event in reply.result?.events ?? [] { self.apply(event) }
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

    private func apply(_ event: EtcdWatchReply.Event) {
        guard let key = EtcdClient.text(base64: event.kv.key) else { return }
        var entries = state.withLock { $0.entries }
        if event.type == "DELETE" {
            entries[key] = nil
        } else if let (_, instance) = decode(event.kv) {
            entries[key] = instance
        }
        replace(entries)
    }

    /// A key another writer filled with something that is not an instance is skipped, with a log line.
    private func decode(_ kv: EtcdKeyValue) -> (String, ServiceInstance)? {
        guard let key = EtcdClient.text(base64: kv.key) else { return nil }
        guard let value = EtcdClient.text(base64: kv.value),
            let record = try? JSONDecoder().decode(InstanceRecord.self, from: Data(value.utf8)),
            let service = record.service, let instance = try? record.instance(of: service)
        else {
            logger.warning("registry entry ignored: not an instance", metadata: ["key": "\(key)"])
            return nil
        }
        return (key, instance)
    }

    private func replace(_ entries: [String: ServiceInstance]) {
        let snapshot = RegistrySnapshot(entries.keys.sorted().compactMap { entries[$0] })
        state.withLock {
            $0.entries = entries
            $0.snapshot = snapshot
        }
    }

    // MARK: - Registration: a lease, kept alive; everything re-put on a new lease

    public func publish(_ instance: ServiceInstance) throws {
        let key = key(of: instance)
        let lease = state.withLock {
            $0.registered[key] = instance
            return $0.lease
        }
        if let lease { put(instance, key: key, lease: lease) }
    }

    /// Waits for etcd (a few seconds at most): it is called on shutdown, before Mesher goes away.
    public func withdraw(_ instance: ServiceInstance) throws {
        let key = key(of: instance)
        _ = state.withLock { $0.registered.removeValue(forKey: key) }
        _ = try client.call("/v3/kv/deleterange", ["key": EtcdClient.base64(key)]).wait()
    }

    private func key(of instance: ServiceInstance) -> String {
        "\(servicesPrefix)\(instance.service)/\(instance.address):\(instance.port)"
    }

    private func put(_ instance: ServiceInstance, key: String, lease: String) {
        let value =
            (try? JSONEncoder().encode(InstanceRecord(instance))).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let body = ["key": EtcdClient.base64(key), "value": EtcdClient.base64(value), "lease": lease]
        client.call("/v3/kv/put", body).whenFailure { error in
            self.logger.warning(
                "cannot register in etcd, will retry", metadata: ["key": "\(key)", "error": "\(error)"])
            self.state.withLock { if $0.lease == lease { $0.lease = nil } }
        }
    }

    private func keepLease() {
        guard !state.withLock({ $0.stopped }) else { return }
        let (lease, hasRegistrations) = state.withLock { ($0.lease, !$0.registered.isEmpty) }
        let period = TimeAmount.seconds(Int64(max(1, leaseTTL / 3)))
        guard hasRegistrations else { return retry(after: period) { self.keepLease() } }
        if let lease {
            client.call("/v3/lease/keepalive", ["ID": lease], as: EtcdKeepAliveReply.self).whenComplete { result in
                if case .success(let reply) = result, !reply.leaseAlive {
                    self.logger.warning("etcd lease lost, registering again", metadata: ["lease": "\(lease)"])
                    self.state.withLock { $0.lease = nil }
                    return self.keepLease()
                }
                self.retry(after: period) { self.keepLease() }
            }
        } else {
            client.call("/v3/lease/grant", ["TTL": "\(leaseTTL)"], as: EtcdLeaseGrantReply.self).whenComplete {
                result in
                if case .success(let reply) = result {
                    let registered = self.state.withLock {
                        $0.lease = reply.id
                        return $0.registered
                    }
                    for (key, instance) in registered { self.put(instance, key: key, lease: reply.id) }
                }
                self.retry(after: period) { self.keepLease() }
            }
        }
    }

    // MARK: -

    private func retry(after delay: TimeAmount, _ work: @escaping @Sendable () -> Void) {
        guard !state.withLock({ $0.stopped }) else { return }
        _ = client.group.next().scheduleTask(in: delay, work)
    }

    /// One log line when etcd goes away and one when it is back, not one per retry.
    private func markReachable(_ reachable: Bool, _ error: (any Error)? = nil) {
        let changed = state.withLock { state -> Bool in
            defer { state.reachable = reachable }
            return state.reachable != reachable
        }
        guard changed else { return }
        if reachable {
            logger.info("etcd reachable: registry in sync", metadata: ["prefix": "\(prefix)"])
        } else {
            logger.warning(
                "etcd unreachable: serving the last known registry, retrying",
                metadata: ["error": "\(error.map { "\($0)" } ?? "watch ended")"])
        }
    }
}
