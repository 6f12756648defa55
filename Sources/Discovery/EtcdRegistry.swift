import Foundation
import Logging
import NIOCore
import Synchronization

/// The distributed registry: instances are keys under `<prefix>services/` held by a lease that Mesher keeps
/// alive; discovery reads the prefix and then watches it, so changes apply as etcd reports them. When etcd is
/// away Mesher serves its last view, retries with backoff, and re-registers (new lease) once it is back.
public final class EtcdRegistry: ServiceDiscovery, ServiceRegistration {
    private struct State {
        /// A watch event changes one service's instances, not the view.
        var view: EtcdView
        var watchers: [@Sendable (RegistrySnapshot, RegistryChange) -> Void] = []
        /// A full read of the prefix was done; when the view last changed; full reads so far.
        var loaded = false
        var lastChange = 0.0
        var syncs = 0
        var registered: [String: Registration] = [:]
        var lease: String?
        /// A registration round is under way; `registerAgain`: something was published during it.
        var registering = false
        var registerAgain = false
        /// The last round failed: its failure is logged once, not at every retry.
        var registerFailing = false
        var stopped = false
        var reachable = true
    }

    private struct Registration {
        var instance: ServiceInstance
        /// Called with the key once etcd holds this instance, then cleared.
        var confirmed: (@Sendable (String) -> Void)?
        /// etcd holds it under the current lease.
        var written = false
    }

    private let client: EtcdClient
    private let prefix: String
    private let leaseTTL: Int
    private let logger: Logger
    private let state: Mutex<State>
    /// Where keys are: an empty view's key layout, read without the lock.
    private let layout: EtcdView

    /// `endpoints` like "https://10.0.0.5:2379"; `prefix` like "/mesher/".
    public init(
        endpoints: [String], prefix: String, leaseTTL: Int = 10, transport: any EtcdTransport,
        group: any EventLoopGroup, logger: Logger
    ) {
        let bases = endpoints.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        client = EtcdClient(endpoints: bases, transport: transport, group: group, timeout: .seconds(2))
        self.prefix = prefix.hasSuffix("/") ? prefix : prefix + "/"
        layout = EtcdView(servicesPrefix: self.prefix + "services/")
        state = Mutex(State(view: layout))
        self.leaseTTL = leaseTTL
        self.logger = logger
    }

    public var snapshot: RegistrySnapshot { state.withLock { $0.view.snapshot } }

    public var sync: RegistrySync {
        state.withLock {
            RegistrySync(synced: $0.loaded && $0.reachable, lastChange: $0.lastChange, syncs: $0.syncs)
        }
    }

    public func watch(_ apply: @escaping @Sendable (RegistrySnapshot, RegistryChange) -> Void) {
        state.withLock {
            $0.watchers.append(apply)
            apply($0.view.snapshot, .all)
        }
    }

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

    // MARK: - Registration: put at once under a lease kept alive; everything put again on a new lease

    public func publish(_ instance: ServiceInstance, confirmed: @escaping @Sendable (String) -> Void) throws {
        let key = key(of: instance)
        state.withLock { $0.registered[key] = Registration(instance: instance, confirmed: confirmed) }
        register()
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

    /// Puts what etcd does not hold yet, granting a lease first if there is none; one round at a time (a
    /// publish during a round starts another after it), failed rounds retried with backoff.
    private func register(backoff: TimeAmount = .milliseconds(200)) {
        let begin = state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            guard !state.registering else {
                state.registerAgain = true
                return false
            }
            state.registering = true
            state.registerAgain = false
            return true
        }
        guard begin else { return }
        lease().flatMap { self.putUnwritten(lease: $0) }.whenComplete { result in
            let (again, wasFailing) = self.state.withLock { state in
                defer {
                    state.registering = false
                    if case .failure = result { state.registerFailing = true } else { state.registerFailing = false }
                }
                return (state.registerAgain, state.registerFailing)
            }
            switch result {
            case .success:
                if again { self.register() }
            case .failure(let error):
                if !wasFailing {
                    self.logger.warning("cannot register in etcd, retrying", metadata: ["error": "\(error)"])
                }
                self.retry(after: backoff) { self.register(backoff: min(backoff * 2, .seconds(5))) }
            }
        }
    }

    private func lease() -> EventLoopFuture<String> {
        if let lease = state.withLock({ $0.lease }) { return client.group.next().makeSucceededFuture(lease) }
        return client.call("/v3/lease/grant", ["TTL": "\(leaseTTL)"], as: EtcdLeaseGrantReply.self).map { reply in
            self.state.withLock { state in
                state.lease = reply.id
                for key in state.registered.keys { state.registered[key]?.written = false }
            }
            return reply.id
        }
    }

    private func putUnwritten(lease: String) -> EventLoopFuture<Void> {
        let unwritten = state.withLock { $0.registered.filter { !$0.value.written } }
        let puts = unwritten.map { key, registration in
            put(registration.instance, key: key, lease: lease).map {
                let confirmed = self.state.withLock { state -> (@Sendable (String) -> Void)? in
                    // Published again meanwhile (a new status), withdrawn, or a new lease: not this put's to confirm.
                    guard state.lease == lease, state.registered[key]?.instance == registration.instance else {
                        return nil
                    }
                    state.registered[key]?.written = true
                    defer { state.registered[key]?.confirmed = nil }
                    return state.registered[key]?.confirmed
                }
                confirmed?(key)
            }
        }
        return EventLoopFuture.andAllSucceed(puts, on: client.group.next())
    }

    private func put(_ instance: ServiceInstance, key: String, lease: String) -> EventLoopFuture<Void> {
        let value =
            (try? JSONEncoder().encode(InstanceRecord(instance))).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let body = ["key": EtcdClient.base64(key), "value": EtcdClient.base64(value), "lease": lease]
        return client.call("/v3/kv/put", body).map { _ in }.flatMapErrorThrowing { error in
            // etcd may have lost the lease (restarted without its data): the next round grants a new one.
            self.state.withLock { if $0.lease == lease { $0.lease = nil } }
            throw error
        }
    }

    /// Every TTL/3: keeps the lease alive, and registers again under a new one when etcd no longer has it.
    private func keepLease() {
        guard !state.withLock({ $0.stopped }) else { return }
        let period = TimeAmount.seconds(Int64(max(1, leaseTTL / 3)))
        guard let lease = state.withLock({ $0.lease }) else { return retry(after: period) { self.keepLease() } }
        client.call("/v3/lease/keepalive", ["ID": lease], as: EtcdKeepAliveReply.self).whenComplete { result in
            if case .success(let reply) = result, !reply.leaseAlive {
                self.logger.warning("etcd lease lost, registering again", metadata: ["lease": "\(lease)"])
                self.state.withLock { if $0.lease == lease { $0.lease = nil } }
                self.register()
            }
            self.retry(after: period) { self.keepLease() }
        }
    }

    // MARK: -

    private func retry(after delay: TimeAmount, _ work: @escaping @Sendable () -> Void) {
        guard !state.withLock({ $0.stopped }) else { return }
        _ = client.group.next().scheduleTask(in: delay, work)
    }

    /// One log line when etcd goes away, not one per retry (its return is the "registry in sync" line).
    private func markReachable(_ reachable: Bool, _ error: (any Error)? = nil) {
        let changed = state.withLock { state -> Bool in
            defer { state.reachable = reachable }
            return state.reachable != reachable
        }
        guard changed else { return }
        if !reachable {
            logger.warning(
                "etcd unreachable: serving the last known registry, retrying",
                metadata: ["error": "\(error.map { "\($0)" } ?? "watch ended")"])
        }
    }
}

/// The pages of one full read so far: filled in place, one page after the other (a future chain, never two
/// at once), where passing an array along would copy it at each page.
final class RangeRead: @unchecked Sendable {
    var built = EtcdView.Builder()
}
