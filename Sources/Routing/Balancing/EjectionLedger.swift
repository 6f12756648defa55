import Synchronization

/// The instances ejected from each service, across every event loop: `maxEjectionPercent` holds for the
/// service as a whole, where each loop's own count would let every loop eject its share. Taken only when a
/// loop is about to eject an instance, never per request.
public final class EjectionLedger: Sendable {
    /// Until when each ejected instance is out, by service.
    private let ejected = Mutex<[String: [EndpointKey: UInt64]]>([:])

    public init() {}

    /// Records `key`'s ejection until `until` if the service may have one more out: an instance already out
    /// on another loop is no new one.
    func admit(_ service: String, _ key: EndpointKey, until: UInt64, now: UInt64, allows: (Int) -> Bool) -> Bool {
        ejected.withLock { all in
            var out = all[service, default: [:]].filter { $0.value > now }
            defer { all[service] = out.isEmpty ? nil : out }
            guard out[key] != nil || allows(out.count) else { return false }
            out[key] = max(out[key] ?? 0, until)
            return true
        }
    }

    /// How many of `service`'s instances are out at `now`, all loops together.
    public func count(_ service: String, now: UInt64) -> Int {
        ejected.withLock { $0[service]?.values.filter { $0 > now }.count ?? 0 }
    }
}
