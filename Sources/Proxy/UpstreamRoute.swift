import Discovery
import NIOCore
import Routing

/// Where a connection or request goes: an instance of a registry service, or where the app was going.
enum UpstreamRoute {
    case service(name: String, instance: ServiceInstance, address: SocketAddress)
    case original(SocketAddress)
    /// A known service with no instance to send to.
    case noInstance(service: String)

    var address: SocketAddress? {
        switch self {
        case .service(_, _, let address), .original(let address): address
        case .noInstance: nil
        }
    }

    var serviceName: String? {
        switch self {
        case .service(let name, _, _), .noInstance(let name): name
        case .original: nil
        }
    }

    /// A Host header naming a service wins; else a destination that is a service's virtual IP;
    /// else the original destination (egress pass-through).
    static func resolve(host: String?, destination: SocketAddress, router: ServiceRouter?) -> UpstreamRoute {
        guard let router else { return .original(destination) }
        let service =
            host.flatMap { router.service(forHost: $0) }
            ?? destination.ipBytes.flatMap { router.service(forVirtualIP: $0) }
        guard let service else { return .original(destination) }
        guard let instance = router.pickInstance(of: service),
            let address = try? SocketAddress(ipAddress: instance.address, port: instance.port)
        else { return .noInstance(service: service) }
        return .service(name: service, instance: instance, address: address)
    }
}
