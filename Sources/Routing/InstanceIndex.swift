import Discovery
import MesherBase

/// Which service a registered instance's address and port belong to, as one event loop knows it: built from
/// the registry view when a connection asks after the view changed (no lock taken to read it, none shared).
/// An app that dials an instance directly (as a gRPC channel to one address does) is still dialling the
/// service.
public final class InstanceIndex {
    private struct Key: Hashable {
        let address: [UInt8]
        let port: Int
    }

    private var builtAt: Double = -1
    private var services: [Key: String] = [:]

    public init() {}

    public func service(at address: [UInt8], port: Int, router: ServiceRouter) -> String? {
        let changed = router.discovery.sync.lastChange
        if changed != builtAt {
            builtAt = changed
            services = [:]
            let snapshot = router.discovery.snapshot
            for (name, instances) in snapshot.services {
                for instance in instances {
                    guard let bytes = IPAddressText.ipv4(instance.address) ?? IPAddressText.ipv6(instance.address)
                    else { continue }
                    services[Key(address: bytes, port: instance.port)] = name
                }
            }
        }
        return services[Key(address: address, port: port)]
    }
}
