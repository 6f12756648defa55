import Discovery
import Synchronization

/// Takes instances in turn, per service.
public final class RoundRobinBalancer: Sendable {
    private let next = Mutex<[String: Int]>([:])

    public init() {}

    public func pick(from instances: [ServiceInstance], key: String) -> ServiceInstance? {
        guard !instances.isEmpty else { return nil }
        let turn = next.withLock { counters in
            let value = counters[key, default: 0]
            counters[key] = value &+ 1
            return value
        }
        return instances[Int(UInt(bitPattern: turn) % UInt(instances.count))]
    }
}
