import Discovery
import MesherBase
import NIOCore
import Routing

/// Where a connection or request goes before an instance is picked: a registry service, or not.
enum RouteTarget {
    case service(String)
    case original(SocketAddress)
    /// A host name to resolve (explicit proxy: no original destination to fall back on).
    case named(host: String, port: Int)
    case unroutable

    var serviceName: String? {
        if case .service(let name) = self { name } else { nil }
    }
}

/// Picks where a connection or request goes, from the service routing of the Routing module. One per event
/// loop: it reads the loop's copy of the routing view.
struct RouteTable {
    /// Service-name routing; `nil` sends everything to its original destination.
    let routing: RoutingView.Reader?

    init(router: ServiceRouter?) {
        routing = router?.reader()
    }

    /// A connection's route (no request to match rules on): any instance of its service.
    func route(host: String?, accepted: Accepted, endpoints: EndpointTable) -> Routed {
        route(target(host: host, accepted: accepted), endpoints: endpoints)
    }

    /// Inbound traffic goes to the app, on the port the caller asked for; outbound is routed.
    func target(host: String?, accepted: Accepted) -> RouteTarget {
        if accepted.direction == .inbound, let original = accepted.original { return .original(original) }
        return target(host: host, destination: accepted.original)
    }

    /// A Host header naming a service wins; else a destination that is a service's virtual IP;
    /// else the original destination (egress pass-through).
    func target(host: String?, destination: SocketAddress?) -> RouteTarget {
        guard let view = routing?.current else { return target(host: host, service: nil, destination: destination) }
        let service =
            host.flatMap { view.service(forHost: $0) }
            ?? destination?.ipBytes.flatMap { view.service(forVirtualIP: $0) }
        return target(host: host, service: service, destination: destination)
    }

    private func target(host: String?, service: String?, destination: SocketAddress?) -> RouteTarget {
        if let service { return .service(service) }
        if let destination { return .original(destination) }
        guard let host, case .named(let name, let port)? = Routed.named(host) else { return .unroutable }
        return .named(host: name, port: port)
    }

    /// A service's instance is the loop's balancer's pick (of `subset` when a rule says so), leased until
    /// the request settles; `policy` is the route's when it overrides the service's.
    func route(
        _ target: RouteTarget, subset: SubsetSelector? = nil, policy: TrafficPolicy? = nil, endpoints: EndpointTable
    ) -> Routed {
        switch target {
        case .service(let service):
            pick(service, subset: subset, policy: policy, endpoints: endpoints, excluding: [])
        case .original(let address): .original(address)
        case .named(let host, let port): .named(host: host, port: port)
        case .unroutable: .unroutable
        }
    }

    /// Another instance of `service` for a retry, one not `tried` where there is one.
    func pick(
        _ service: String, subset: SubsetSelector?, policy: TrafficPolicy?, endpoints: EndpointTable,
        excluding tried: [EndpointKey]
    ) -> Routed {
        guard let routing else { return .noInstance(service: service) }
        let now = NIODeadline.now().uptimeNanoseconds
        let leased = endpoints.lease(
            service, from: routing.current.instances(of: service), subset: subset, policy: policy, excluding: tried,
            now: now)
        switch leased {
        case .success(let lease):
            guard let address = try? SocketAddress(ipAddress: lease.instance.address, port: lease.instance.port)
            else { return .noInstance(service: service) }
            return .service(name: service, lease: lease, address: address)
        case .failure(.overflow): return .overflow(service: service)
        case .failure(.noInstance): return .noInstance(service: service)
        }
    }
}
