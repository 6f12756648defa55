import Discovery
import NIOCore
import Routing

/// Picks where a connection or request goes, from the service routing of the Routing module.
struct RouteTable: Sendable {
    /// Service-name routing; `nil` sends everything to its original destination.
    let router: ServiceRouter?

    /// Inbound traffic goes to the app, on the port the caller asked for; outbound is routed.
    func route(host: String?, accepted: Accepted, endpoints: EndpointTable) -> Routed {
        if accepted.direction == .inbound, let original = accepted.original { return .original(original) }
        return route(host: host, destination: accepted.original, endpoints: endpoints)
    }

    /// A Host header naming a service wins; else a destination that is a service's virtual IP;
    /// else the original destination (egress pass-through). A service's instance is the loop's balancer's
    /// pick, leased until the request settles.
    func route(host: String?, destination: SocketAddress?, endpoints: EndpointTable) -> Routed {
        let service =
            host.flatMap { router?.service(forHost: $0) }
            ?? destination?.ipBytes.flatMap { router?.service(forVirtualIP: $0) }
        guard let service else {
            if let destination { return .original(destination) }
            return host.flatMap(Routed.named) ?? .unroutable
        }
        return pick(service, endpoints: endpoints, excluding: [])
    }

    /// Another instance of `service` for a retry, one not `tried` where there is one.
    func pick(_ service: String, endpoints: EndpointTable, excluding tried: [EndpointKey]) -> Routed {
        guard let router else { return .noInstance(service: service) }
        let now = NIODeadline.now().uptimeNanoseconds
        switch endpoints.lease(service, from: router.instances(of: service), excluding: tried, now: now) {
        case .success(let lease):
            guard let address = try? SocketAddress(ipAddress: lease.instance.address, port: lease.instance.port)
            else { return .noInstance(service: service) }
            return .service(name: service, lease: lease, address: address)
        case .failure(.overflow): return .overflow(service: service)
        case .failure(.noInstance): return .noInstance(service: service)
        }
    }
}
