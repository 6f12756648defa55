import MesherBase

/// One reachable copy of a service: where it listens and what it says about itself.
/// 56 bytes: what an instance says about itself beyond where it is (version, app, environment, tags) is
/// boxed, once, shared by every copy (a registry holds 100,000 instances, twice: 104 bytes each unboxed).
public struct ServiceInstance: Hashable, Sendable {
    public var service: String
    public var address: String
    public var port: Int
    public var `protocol`: InstanceProtocol
    /// Down when its health check fails: known, but not sent traffic.
    public var isUp: Bool
    /// nil when it says nothing more.
    private var labels: Labels?

    public init(
        service: String, address: String, port: Int, version: String? = nil, app: String? = nil,
        environment: String? = nil, tags: [String: String] = [:], protocol: InstanceProtocol = .auto,
        isUp: Bool = true
    ) {
        self.service = service
        self.address = address
        self.port = port
        self.protocol = `protocol`
        self.isUp = isUp
        labels = Labels.make(version: version, app: app, environment: environment, tags: tags)
    }

    public var version: String? {
        get { labels?.version }
        set { labels = Labels.make(version: newValue, app: app, environment: environment, tags: tags) }
    }

    public var app: String? {
        get { labels?.app }
        set { labels = Labels.make(version: version, app: newValue, environment: environment, tags: tags) }
    }

    public var environment: String? {
        get { labels?.environment }
        set { labels = Labels.make(version: version, app: app, environment: newValue, tags: tags) }
    }

    public var tags: [String: String] {
        get { labels?.tags ?? [:] }
        set { labels = Labels.make(version: version, app: app, environment: environment, tags: newValue) }
    }

    private final class Labels: Hashable, Sendable {
        let version: String?
        let app: String?
        let environment: String?
        let tags: [String: String]

        private init(version: String?, app: String?, environment: String?, tags: [String: String]) {
            self.version = version
            self.app = app
            self.environment = environment
            self.tags = tags
        }

        static func make(version: String?, app: String?, environment: String?, tags: [String: String]) -> Labels? {
            version == nil && app == nil && environment == nil && tags.isEmpty
                ? nil : Labels(version: version, app: app, environment: environment, tags: tags)
        }

        static func == (a: Labels, b: Labels) -> Bool {
            a === b || (a.version == b.version && a.app == b.app && a.environment == b.environment && a.tags == b.tags)
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(version)
            hasher.combine(app)
            hasher.combine(environment)
            hasher.combine(tags)
        }
    }
}

/// Where a provider's Mesher announces its app (and takes it back).
public protocol ServiceRegistration: Sendable {
    /// Publishes `instance` (again when its status changed); `confirmed` gets its key once the registry holds
    /// it: at once for a file, when etcd acknowledged the put for etcd (failures there are retried).
    func publish(_ instance: ServiceInstance, confirmed: @escaping @Sendable (String) -> Void) throws
    func withdraw(_ instance: ServiceInstance) throws
}

extension ServiceRegistration {
    public func publish(_ instance: ServiceInstance) throws {
        try publish(instance) { _ in }
    }
}

/// Where service instances come from: a registry directory, etcd, ...
public protocol ServiceDiscovery: Sendable {
    /// The latest view (under the registry's lock: not for the request path, which reads the routing view).
    var snapshot: RegistrySnapshot { get }
    /// Whether the view is whole and current, and when it last changed.
    var sync: RegistrySync { get }
    /// Calls `apply` with the whole view now (`.all`), then after each change with the services it changed,
    /// one call at a time and in order.
    func watch(_ apply: @escaping @Sendable (RegistrySnapshot, RegistryChange) -> Void)
}

extension ServiceDiscovery {
    /// A view that never changes: one call.
    public func watch(_ apply: @escaping @Sendable (RegistrySnapshot, RegistryChange) -> Void) {
        apply(snapshot, .all)
    }
}

/// What a registry update touched: the watchers' work is in proportion to it.
public enum RegistryChange: Sendable, Equatable {
    case all
    /// Lowercased service names whose instances changed, or which appeared or went.
    case services(Set<String>)
}

/// How current a registry view is (metrics, `/ready`, the admin page).
public struct RegistrySync: Sendable, Equatable {
    /// A full view was read and the source is reachable (etcd) or readable (the directory).
    public var synced: Bool
    /// When the view last changed, seconds since the epoch; 0 before the first.
    public var lastChange: Double
    /// Full views read: the first, then one after each reconnect (etcd) or unreadable spell (the directory).
    public var syncs: Int

    public init(synced: Bool, lastChange: Double, syncs: Int = 0) {
        self.synced = synced
        self.lastChange = lastChange
        self.syncs = syncs
    }
}
