import Admin
import Discovery

/// `/healthz`, `/ready`, `/metrics` and `/quitquitquit` on the admin port.
struct AdminService: MesherService {
    let server: AdminServer

    func stop() async { await server.close() }
}

typealias RegistryFigures = MetricsExporter.RegistryFigures

extension RegistryFigures {
    /// Counted at each scrape from the registry's current view.
    static func of(_ discovery: any ServiceDiscovery) -> RegistryFigures {
        let services = discovery.snapshot.services
        let up = services.values.reduce(0) { $0 + $1.count(where: \.isUp) }
        let all = services.values.reduce(0) { $0 + $1.count }
        let sync = discovery.sync
        return RegistryFigures(
            services: services.count, instancesUp: up, instancesDown: all - up, synced: sync.synced,
            lastSync: sync.lastChange)
    }
}
