import Discovery
import NIOCore
import Routing

/// Picks where a connection or request goes, from the service routing of the Routing module.
struct RouteTable: Sendable {
    /// Service-name routing; `nil` sends everything to its original destination.
    let router: ServiceRouter?

    /// Inbound traffic goes to the app, on the port the caller asked for; outbound is routed.
    func route(host: String?, accepted: Accepted) -> Routed {
        if accepted.direction == .inbound, let original = accepted.original { return .original(original) }
        return route(host: host, destination: accepted.original)
    }

    /// A Host header naming a service wins; else a destination that is a service's virtual IP;
    /// else the original destination (egress pass-through).
    func route(host: String?, destination: SocketAddress?) -> Routed {
        let service =
            host.flatMap { router?.service(forHost: $0) }
            ?? destination?.ipBytes.flatMap { router?.service(forVirtualIP: $0) }
        guard let router, let service else {
            if let destination { return .original(destination) }
            return host.flatMap(Routed.named) ?? .unroutable
        }
        guard let instance = router.pickInstance(of: service),
            let address = try? SocketAddress(ipAddress: instance.address, port: instance.port)
        else { return .noInstance(service: service) }
        return .service(name: service, instance: instance, address: address)
    }
}
