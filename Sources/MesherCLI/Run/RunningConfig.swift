import Admin
import Config
import Synchronization
import Telemetry

/// The configuration in effect: the start's, with what reloads changed, and how the reloads went. Read by
/// the admin API and the reload; never on the request path (the loops have their own copy of what they use).
final class RunningConfig: Sendable {
    enum ReloadResult: String, CaseIterable {
        case applied, unchanged, invalid
    }

    private let value: Mutex<MesherConfig>
    private let reloads = Mutex([ReloadResult: Int]())

    init(_ config: MesherConfig) { value = Mutex(config) }

    var current: MesherConfig { value.withLock { $0 } }

    func replace(_ config: MesherConfig) { value.withLock { $0 = config } }

    func counted(_ result: ReloadResult) { reloads.withLock { $0[result, default: 0] += 1 } }

    /// `mesher_config_reloads_total`, every result from 0.
    var reloadTotals: [MetricsExporter.Total] {
        let counts = reloads.withLock { $0 }
        return ReloadResult.allCases.map {
            MetricsExporter.Total(MetricNames.configReloads, [("result", $0.rawValue)], Double(counts[$0] ?? 0))
        }
    }
}

extension MesherConfig {
    /// What a reload applies without a restart: route rules, traffic policies, the inbound rate limit and the
    /// log level. The rest (ports, capture, registry, DNS, ...) needs a new listener or client.
    func reloading(_ new: MesherConfig) -> (applied: MesherConfig, needRestart: [String]) {
        var applied = self
        applied.routes = new.routes
        applied.traffic = new.traffic
        applied.inbound.rateLimit = new.inbound.rateLimit
        applied.log.level = new.log.level
        let before = Mirror(reflecting: applied).children
        let after = Mirror(reflecting: new).children
        let changed = zip(before, after).compactMap { old, new in
            "\(old.value)" == "\(new.value)" ? nil : old.label
        }
        return (applied, changed)
    }
}
