import HashTreeCollections

/// Every known service and its instances at one moment. Service names match case-insensitively.
/// A persistent trie: a change to one service copies only the path to it, so a registry of 10,000 services
/// costs a change what one of ten does, and every holder of an older view keeps it intact.
public struct RegistrySnapshot: Equatable, Sendable {
    /// Keyed by lowercased service name; a service with no instance is known (a request to it gets a 503).
    public private(set) var services: TreeDictionary<String, [ServiceInstance]> = [:]
    /// All instances, and those up: kept as services change, so that a scrape counts nothing.
    public private(set) var instanceCount = 0
    public private(set) var upCount = 0

    /// `services` names services that exist even with no instance (a request to one gets a 503, not a pass-through).
    public init(_ instances: [ServiceInstance] = [], services names: [String] = []) {
        var grouped: [String: [ServiceInstance]] = [:]
        for name in names { grouped[name.lowercased()] = [] }
        for instance in instances { grouped[instance.service.lowercased(), default: []].append(instance) }
        for (name, instances) in grouped { set(name, instances) }
    }

    /// Replaces the instances of `service` (a lowercased name); `nil` forgets it. Returns whether that changed
    /// anything.
    @discardableResult
    public mutating func set(_ service: String, _ instances: [ServiceInstance]?) -> Bool {
        let old = services[service]
        guard old != instances else { return false }
        if let old {
            instanceCount -= old.count
            upCount -= old.count(where: \.isUp)
        }
        if let instances {
            instanceCount += instances.count
            upCount += instances.count(where: \.isUp)
        }
        services[service] = instances
        return true
    }

    public func instances(of service: String) -> [ServiceInstance] {
        services[service.lowercased()] ?? []
    }

    public var serviceNames: [String] { services.keys.sorted() }

    public static func == (a: Self, b: Self) -> Bool { a.services == b.services }
}
