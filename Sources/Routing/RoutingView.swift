import Discovery
import HashTreeCollections
import MesherBase

/// What routing reads, at one moment: the registry's services, their virtual IPs and which service a registered
/// instance's address and port belong to. Immutable: the registry makes the next one from it, changing only the
/// services that changed, and each event loop swaps it in whole (see `ServiceRouter`).
public struct RoutingView: Sendable {
    public internal(set) var registry = RegistrySnapshot()
    public internal(set) var virtualIPs: VirtualIPTable
    /// Registered instances' addresses: an app that dials an instance directly (a gRPC channel to one address)
    /// is still dialling the service. Where services share an address, the first in byte order owns it and
    /// the others wait in `sharers` (rare: kept apart so that the usual entry holds one name, no array).
    var instanceOwners: TreeDictionary<InstanceAddress, String> = [:]
    var sharers: TreeDictionary<InstanceAddress, [String]> = [:]
    /// Domains a name may carry and still mean the bare service.
    let searchSuffixes: [String]

    /// An instance's address and port in 24 bytes, no allocation (IPv4 as its IPv4-mapped IPv6 form).
    struct InstanceAddress: Hashable, Sendable {
        let high: UInt64
        let low: UInt64
        let port: Int

        init?(_ instance: ServiceInstance) {
            guard let bytes = IPAddressText.ipv4(instance.address) ?? IPAddressText.ipv6(instance.address) else {
                return nil
            }
            self.init(address: bytes, port: instance.port)
        }

        init?(address: [UInt8], port: Int) {
            let bytes: [UInt8]
            switch address.count {
            case 4: bytes = Array(repeating: 0, count: 10) + [0xFF, 0xFF] + address
            case 16: bytes = address
            default: return nil
            }
            high = bytes[..<8].reduce(0) { $0 << 8 | UInt64($1) }
            low = bytes[8...].reduce(0) { $0 << 8 | UInt64($1) }
            self.port = port
        }
    }

    init(virtualIPs: VirtualIPTable, searchSuffixes: [String]) {
        self.virtualIPs = virtualIPs
        self.searchSuffixes = searchSuffixes
    }

    /// The registry's key for the service `host` names (port, case and search suffixes ignored), if any.
    public func service(forHost host: String) -> String? {
        guard let name = ServiceName.normalize(host) else { return nil }
        if registry.services[name] != nil { return name }
        guard let dot = name.firstIndex(of: ".") else { return nil }
        let label = String(name[..<dot])
        let rest = name[name.index(after: dot)...]
        guard registry.services[label] != nil,
            searchSuffixes.contains(where: { rest == $0 || rest.hasSuffix("." + $0) })
        else { return nil }
        return label
    }

    /// The service whose virtual IP this is.
    public func service(forVirtualIP address: [UInt8]) -> String? {
        virtualIPs.service(at: address)
    }

    /// The service a registered instance at this address and port belongs to.
    public func service(atInstance address: [UInt8], port: Int) -> String? {
        InstanceAddress(address: address, port: port).flatMap { instanceOwners[$0] }
    }

    /// Every instance the registry has of `service`, up or down; each event loop's `EndpointTable` picks.
    public func instances(of service: String) -> [ServiceInstance] {
        registry.instances(of: service)
    }

    /// The next view: `registry`, of which `change` says what differs from this one.
    func updated(to registry: RegistrySnapshot, _ change: RegistryChange) -> RoutingView {
        var next = self
        next.registry = registry
        let names: any Sequence<String> =
            switch change {
            case .all: Set(self.registry.services.keys).union(registry.services.keys)
            case .services(let names): names
            }
        for name in names {
            let old = self.registry.services[name]
            let new = registry.services[name]
            if new == nil { next.virtualIPs.remove(name) } else if old == nil { next.virtualIPs.insert(name) }
            next.reindex(name, from: old ?? [], to: new ?? [])
        }
        return next
    }

    private mutating func reindex(_ service: String, from old: [ServiceInstance], to new: [ServiceInstance]) {
        let before = Set(old.compactMap(InstanceAddress.init))
        let after = Set(new.compactMap(InstanceAddress.init))
        for gone in before.subtracting(after) {
            var names = (instanceOwners[gone].map { [$0] } ?? []) + (sharers[gone] ?? [])
            names.removeAll { $0 == service }
            (instanceOwners[gone], sharers[gone]) = (names.first, names.count > 1 ? Array(names.dropFirst()) : nil)
        }
        for added in after.subtracting(before) {
            guard let owner = instanceOwners[added] else {
                instanceOwners[added] = service
                continue
            }
            let names = ([owner, service] + (sharers[added] ?? [])).sorted(by: VirtualIPTable.precedes)
            (instanceOwners[added], sharers[added]) = (names[0], Array(names.dropFirst()))
        }
    }
}
