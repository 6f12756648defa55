import Foundation
import Logging
import NIOCore
import Synchronization

/// The distributed registry: instances are keys under `<prefix>services/` held by a lease that Mesher keeps
/// alive; discovery reads the prefix and then watches it, so changes apply as etcd reports them. When etcd is
/// away Mesher serves its last view, retries with backoff, and re-registers (new lease) once it is back.
public final class EtcdRegistry: ServiceDiscovery, ServiceRegistration {
    struct State {
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

    struct Registration {
        var instance: ServiceInstance
        /// Called with the key once etcd holds this instance, then cleared.
        var confirmed: (@Sendable (String) -> Void)?
        /// etcd holds it under the current lease.
        var written = false
    }

    let client: EtcdClient
    let prefix: String
    private let leaseTTL: Int
    let logger: Logger
    let state: Mutex<State>
    /// Where keys are: an empty view's key layout, read without the lock.
    let layout: EtcdView

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

    var servicesPrefix: String { prefix + "services/" }

    public func start() {
        synchronize(backoff: .milliseconds(200))
        keepLease()
    }

    public func stop() {
        state.withLock { $0.stopped = true }
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

    func retry(after delay: TimeAmount, _ work: @escaping @Sendable () -> Void) {
        guard !state.withLock({ $0.stopped }) else { return }
        _ = client.group.next().scheduleTask(in: delay, work)
    }

    /// One log line when etcd goes away, not one per retry (its return is the "registry in sync" line).
    func markReachable(_ reachable: Bool, _ error: (any Error)? = nil) {
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
