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
        let snapshot = discovery.snapshot
        let sync = discovery.sync
        return RegistryFigures(
            services: snapshot.services.count, instancesUp: snapshot.upCount,
            instancesDown: snapshot.instanceCount - snapshot.upCount, synced: sync.synced, lastSync: sync.lastChange,
            syncs: sync.syncs)
    }
}
