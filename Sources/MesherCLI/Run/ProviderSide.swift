import Config
import Discovery
import HTTPClients
import Logging
import NIOCore
import Registration

/// The app this Mesher stands beside: its instances in the registry, kept up or down by its health check.
struct ProviderSide {
    /// What this Mesher registers (one instance per port), as registered.
    let instances: [ServiceInstance]
    let registrar: Registrar
    let checker: HealthChecker?

    static func start(
        _ service: ServiceConfig, registration: any ServiceRegistration, httpClient: MesherHTTPClient,
        group: any EventLoopGroup, logger: Logger
    ) throws -> ProviderSide {
        guard let address = service.address ?? Self.primaryAddress() else {
            throw ConfigError(
                source: "mesher.yaml", line: nil, field: "service.address",
                message: "no non-loopback address found on this host: set it")
        }
        let check = service.healthCheck
        let instances = service.ports.map {
            ServiceInstance(
                service: service.name, address: address, port: Int($0), version: service.version, app: service.app,
                environment: service.environment, tags: service.tags, protocol: service.protocol,
                isUp: check.kind == .none)
        }
        let registrar = Registrar(instances: instances, registration: registration, logger: logger)
        registrar.register()
        let kind: HealthProbe.Kind
        switch check.kind {
        case .none: return ProviderSide(instances: instances, registrar: registrar, checker: nil)
        case .tcp: kind = .tcp
        case .http: kind = .http(path: check.path, expectStatus: check.expectStatus, bodyContains: check.bodyContains)
        }
        let probe = HealthProbe(
            kind: kind, host: check.host ?? address, port: Int(check.port ?? service.ports[0]),
            timeout: .nanoseconds(check.timeout.nanoseconds))
        let checker = HealthChecker(
            probe: probe, client: httpClient, interval: .nanoseconds(check.interval.nanoseconds),
            failureThreshold: check.failureThreshold,
            successThreshold: check.successThreshold, eventLoop: group.next(), logger: logger
        ) { registrar.setUp($0) }
        checker.start()
        return ProviderSide(instances: instances, registrar: registrar, checker: checker)
    }

    /// Why this Mesher's app is not ready, nil when it is.
    var notReady: String? {
        guard !registrar.isReady else { return nil }
        return checker?.lastFailure.map { "the app's health check fails: \($0)" }
            ?? "the app's health check has not passed yet"
    }

    /// Why the health check of a registry instance failed last, when it is one of this Mesher's.
    func healthCheckFailure(service: String, address: String, port: Int) -> String? {
        let ours = instances.contains {
            $0.service.lowercased() == service.lowercased() && $0.address == address && $0.port == port
        }
        return ours ? checker?.lastFailure : nil
    }

    func stop() {
        checker?.stop()
        registrar.deregister()
    }

    /// The address others reach this host at: its first non-loopback IPv4 address, else IPv6.
    static func primaryAddress() -> String? {
        let devices = (try? System.enumerateDevices()) ?? []
        let addresses = devices.compactMap { $0.address }.filter { address in
            guard let ip = address.ipAddress else { return false }
            return !ip.hasPrefix("127.") && ip != "::1" && !ip.lowercased().hasPrefix("fe80")
        }
        let preferred = addresses.first { if case .v4 = $0 { true } else { false } } ?? addresses.first
        return preferred?.ipAddress
    }
}
