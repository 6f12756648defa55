import MesherBase

/// One reachable copy of a service: where it listens and what it says about itself.
public struct ServiceInstance: Hashable, Sendable {
    public var service: String
    public var address: String
    public var port: Int
    public var version: String?
    public var app: String?
    public var environment: String?
    public var tags: [String: String]
    public var `protocol`: InstanceProtocol
    /// Down when its health check fails: known, but not sent traffic.
    public var isUp: Bool

    public init(
        service: String, address: String, port: Int, version: String? = nil, app: String? = nil,
        environment: String? = nil, tags: [String: String] = [:], protocol: InstanceProtocol = .auto,
        isUp: Bool = true
    ) {
        self.service = service
        self.address = address
        self.port = port
        self.version = version
        self.app = app
        self.environment = environment
        self.tags = tags
        self.protocol = `protocol`
        self.isUp = isUp
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

/// Every known service and its instances at one moment. Service names match case-insensitively.
public struct RegistrySnapshot: Equatable, Sendable {
    /// Keyed by lowercased service name.
    public private(set) var services: [String: [ServiceInstance]] = [:]

    /// `services` names services that exist even with no instance (a request to one gets a 503, not a pass-through).
    public init(_ instances: [ServiceInstance] = [], services names: [String] = []) {
        for name in names { services[name.lowercased()] = [] }
        for instance in instances {
            services[instance.service.lowercased(), default: []].append(instance)
        }
    }

    /// Several views in one, instances in the given order.
    public init(merging parts: [RegistrySnapshot]) {
        for part in parts {
            services.merge(part.services) { $0 + $1 }
        }
    }

    public func instances(of service: String) -> [ServiceInstance] {
        services[service.lowercased()] ?? []
    }

    public var serviceNames: [String] { services.keys.sorted() }
}

/// Where service instances come from: a registry directory, etcd, ...
public protocol ServiceDiscovery: Sendable {
    /// The latest view; cheap enough to call per request.
    var snapshot: RegistrySnapshot { get }
    /// Whether the view is whole and current, and when it last changed.
    var sync: RegistrySync { get }
}

/// How current a registry view is (metrics, `/ready`, the admin page).
public struct RegistrySync: Sendable, Equatable {
    /// A full view was read and the source is reachable (etcd) or readable (the directory).
    public var synced: Bool
    /// When the view last changed, seconds since the epoch; 0 before the first.
    public var lastChange: Double

    public init(synced: Bool, lastChange: Double) {
        self.synced = synced
        self.lastChange = lastChange
    }
}
