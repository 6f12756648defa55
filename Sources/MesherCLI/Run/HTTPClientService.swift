import HTTPClients

/// The HTTP client of Mesher's own requests (etcd, the app's health check): first in the list, so that it
/// shuts down last, after the registry and the provider side that use it.
struct HTTPClientService: MesherService {
    let client: MesherHTTPClient

    func stop() async { try? await client.shutdown() }
}
