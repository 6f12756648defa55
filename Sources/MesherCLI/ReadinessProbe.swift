import Admin
import HTTPClients
import NIOCore

/// One `GET /ready` to Mesher's admin port: true once Mesher itself serves (200, or 503 for an app that is
/// not healthy yet: the command `mesher await` starts is usually that app), false when refused or slow.
enum ReadinessProbe {
    /// `admin`: the admin port's URL (`AdminAddress.url`).
    static func isReady(admin: String, client: MesherHTTPClient, on eventLoop: any EventLoop) async -> Bool {
        let url = admin + "/ready"
        guard
            let reply = try? await client.get(
                url, headers: [], deadline: .now() + .seconds(1), keepingAtMost: 1024, on: eventLoop
            ).get()
        else { return false }
        return reply.status == 200 || reply.headers.first(name: AdminServer.proxyReadyHeader) == "ready"
    }
}
