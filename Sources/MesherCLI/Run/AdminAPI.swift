import Admin
import Config
import Discovery
import Foundation
import Logging
import Proxy
import Routing

/// The admin API in Envoy's words, as JSON: `/clusters`, `/config_dump`, `/listeners`, `/logging`; and
/// `/metrics`. Put together here, where the registry, the proxy and the config are all known.
struct AdminAPI {
    let config: RunningConfig
    let registry: any ServiceDiscovery
    let proxy: ProxyServer
    let dns: DNSService?
    let metrics: MetricsExporter?
    let logLevel: LogLevelControl
    let provider: ProviderSide?

    /// `/ready`: why Mesher is not ready, nil once a registry view was read and the app's health check passes.
    var notReady: @Sendable () -> String? {
        let (registry, provider) = (registry, provider)
        return { registry.sync.lastChange > 0 ? provider?.notReady : "no registry view yet" }
    }

    var endpoints: AdminEndpoints {
        let (registry, proxy, logLevel, exporter, config, provider) = (
            registry, proxy, logLevel, metrics, config, provider
        )
        var endpoints = AdminEndpoints(
            configDump: { Self.json(ConfigDump.value(of: config.current)) }, listeners: Self.json(listeners))
        if let exporter {
            endpoints.metrics = { @Sendable in exporter.render() }
        }
        endpoints.clusters = { @Sendable () async -> String in
            let reports = await proxy.endpointReports()
            return Self.json(ClusterView.all(registry: registry, reports: reports, provider: provider))
        }
        endpoints.logging = { @Sendable (level: String?) -> String? in
            if let level {
                guard let parsed = Logger.Level(rawValue: level) else { return nil }
                logLevel.set(parsed)
            }
            return Self.json(["level": logLevel.current.rawValue])
        }
        endpoints.page = AdminPage.html
        return endpoints
    }

    struct Listening: Encodable {
        var name: String
        var address: String
        var `protocol`: String
    }

    var listeners: [Listening] {
        var all = proxy.listening.map {
            Listening(name: $0.kind.logName, address: $0.address?.logText ?? "-", protocol: "tcp")
        }
        for address in dns?.server.localAddresses ?? [] {
            all += [Listening(name: "dns", address: address.logText, protocol: "udp+tcp")]
        }
        let admin = config.current.admin
        all.append(Listening(name: "admin", address: "\(admin.address):\(admin.port)", protocol: "tcp"))
        return all
    }

    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}") + "\n"
    }
}

/// One service of `/clusters`: the registry's instances with their health, and what the event loops know of
/// each (requests in flight, latency, failures, ejection); for this Mesher's own app, why its health check
/// failed last.
struct ClusterView: Encodable {
    struct Instance: Encodable {
        var address: String
        var port: Int
        var health: String
        var version: String?
        var active: Int
        var ewmaMilliseconds: Double?
        var consecutiveFailures: Int
        var ejections: Int
        var ejected: Bool
        var ejectedSeconds: Double?
        var healthCheckFailure: String?
    }

    var name: String
    var loadBalancer: String
    var outstanding: Int
    var connections: Int
    var pendingRequests: Int
    var instances: [Instance]

    static func all(
        registry: any ServiceDiscovery, reports: [EndpointReport], provider: ProviderSide?
    ) -> [String: [ClusterView]] {
        let byService = Dictionary(reports.map { ($0.service, $0) }, uniquingKeysWith: { first, _ in first })
        let services = registry.snapshot.services
        let views = services.keys.sorted().map { name in
            let report = byService[name]
            let seen = Dictionary(
                (report?.instances ?? []).map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            return ClusterView(
                name: name, loadBalancer: report?.loadBalancer ?? "-", outstanding: report?.outstanding ?? 0,
                connections: report?.connections ?? 0, pendingRequests: report?.pendingRequests ?? 0,
                instances: (services[name] ?? []).map { instance in
                    let stats = seen[EndpointKey(instance)]
                    return Instance(
                        address: instance.address, port: instance.port, health: instance.isUp ? "up" : "down",
                        version: instance.version, active: stats?.active ?? 0,
                        ewmaMilliseconds: stats?.ewmaNanoseconds.map { ($0 / 1e4).rounded() / 100 },
                        consecutiveFailures: stats?.consecutiveFailures ?? 0, ejections: stats?.ejections ?? 0,
                        ejected: stats?.ejectedFor != nil,
                        ejectedSeconds: stats?.ejectedFor.map { (Double($0) / 1e7).rounded() / 100 },
                        healthCheckFailure: provider?.healthCheckFailure(
                            service: name, address: instance.address, port: instance.port))
                })
        }
        return ["services": views]
    }
}
