import ArgumentParser
import Config
import Discovery
import HTTPClients
import Logging
import NIOCore

/// Where services are read from and the app is registered: a directory of files or etcd. First to start
/// and last to stop: everything else reads it.
struct RegistryService: MesherService {
    let registry: any ServiceDiscovery & ServiceRegistration
    private let stopWork: @Sendable () -> Void

    init(_ config: RegistryConfig, httpClient: MesherHTTPClient, group: any EventLoopGroup, logger: Logger) throws {
        switch config.kind {
        case .etcd:
            let tls = config.tls.map { EtcdHTTPTransport.TLSFiles(ca: $0.ca, cert: $0.cert, key: $0.key) }
            let transport: EtcdHTTPTransport
            do {
                transport = try EtcdHTTPTransport(client: httpClient, tls: tls)
            } catch {
                throw ValidationError("registry.tls: \(error)")
            }
            let etcd = EtcdRegistry(
                endpoints: config.endpoints, prefix: config.prefix, leaseTTL: Int(config.leaseTTL.seconds),
                transport: transport, group: group, logger: logger)
            etcd.start()
            (registry, stopWork) = (etcd, { etcd.stop() })
        case .file:
            let files = FileRegistry(
                directory: config.directory, leaseTTL: Double(config.leaseTTL.nanoseconds) / 1e9, logger: logger)
            files.startWatching()
            (registry, stopWork) = (files, { files.stop() })
        }
    }

    func stop() async { stopWork() }
}
