import Discovery
import Logging
import Synchronization

/// Keeps the app's instances (one per port) in the registry: published at start, marked down and up as
/// its health check says, withdrawn on graceful shutdown.
public final class Registrar: Sendable {
    private let instances: Mutex<[ServiceInstance]>
    private let registration: any ServiceRegistration
    private let logger: Logger

    public init(instances: [ServiceInstance], registration: any ServiceRegistration, logger: Logger) {
        self.instances = Mutex(instances)
        self.registration = registration
        self.logger = logger
    }

    /// Whether the instances are up: Mesher's readiness.
    public var isReady: Bool { instances.withLock { $0.allSatisfy(\.isUp) } }

    public func setUp(_ isUp: Bool) {
        let current = instances.withLock { instances in
            for index in instances.indices { instances[index].isUp = isUp }
            return instances
        }
        publish(current)
    }

    public func register() {
        publish(instances.withLock { $0 })
    }

    public func deregister() {
        for instance in instances.withLock({ $0 }) {
            do {
                try registration.withdraw(instance)
                logger.info("deregistered", metadata: Self.metadata(instance))
            } catch {
                logger.error(
                    "cannot deregister", metadata: Self.metadata(instance).merging(["error": "\(error)"]) { $1 })
            }
        }
    }

    /// "registered" is logged when the registry confirmed it (etcd: its answer to the put), with the key.
    private func publish(_ instances: [ServiceInstance]) {
        for instance in instances {
            do {
                try registration.publish(instance) { [logger] key in
                    logger.info("registered", metadata: Self.metadata(instance).merging(["key": "\(key)"]) { $1 })
                }
            } catch {
                logger.error("cannot register", metadata: Self.metadata(instance).merging(["error": "\(error)"]) { $1 })
            }
        }
    }

    private static func metadata(_ instance: ServiceInstance) -> Logger.Metadata {
        [
            "service": "\(instance.service)", "address": "\(instance.address)", "port": "\(instance.port)",
            "status": "\(instance.isUp ? "up" : "down")",
        ]
    }
}
