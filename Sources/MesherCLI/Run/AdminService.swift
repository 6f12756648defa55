import Admin

/// `/healthz`, `/ready` and `/quitquitquit` on the admin port.
struct AdminService: MesherService {
    let server: AdminServer

    func stop() async { await server.close() }
}
