import Config
import Synchronization

/// The configuration in effect: the start's, with what reloads changed. Read by the admin API and the
/// reload; never on the request path (the loops have their own copy of what they use).
final class RunningConfig: Sendable {
    private let value: Mutex<MesherConfig>

    init(_ config: MesherConfig) { value = Mutex(config) }

    var current: MesherConfig { value.withLock { $0 } }

    func replace(_ config: MesherConfig) { value.withLock { $0 = config } }
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
