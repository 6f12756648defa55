import Discovery
import Logging
import Synchronization

/// Turns what a connection or request names (a Host header, a virtual IP, an instance's address) into a
/// service and its instances. The registry hands it each change; it makes the next `RoutingView` from the last
/// one for the services that changed and publishes it. Event loops read it through a `RoutingView.Reader`
/// each: one atomic load per lookup, the view itself fetched once per change and loop; no lock shared by the
/// loops on the request path.
public final class ServiceRouter: Sendable {
    private let published: Mutex<RoutingView>
    /// Bumped after each publication; a reader with another number fetches the view.
    private let generation = Atomic<UInt64>(0)
    private let logger: Logger?

    /// `searchSuffixes`: domains a name may carry and still mean the bare service
    /// ("accountservice.default.svc.cluster.local" with "svc.cluster.local").
    public init(
        discovery: any ServiceDiscovery, virtualIPs: VirtualIPTable = VirtualIPTable(), searchSuffixes: [String],
        logger: Logger? = nil
    ) {
        published = Mutex(
            RoutingView(virtualIPs: virtualIPs, searchSuffixes: searchSuffixes.map { $0.lowercased().trimmingDots() }))
        self.logger = logger
        discovery.watch { [weak self] registry, change in self?.apply(registry, change) }
    }

    /// The current view (under a lock: for DNS answers, admin pages and tests; event loops use a reader).
    public var view: RoutingView { published.withLock { $0 } }

    /// A cache of the view for one event loop (or one thread).
    public func reader() -> RoutingView.Reader { RoutingView.Reader(router: self) }

    fileprivate func current(ifNot seen: UInt64) -> (UInt64, RoutingView)? {
        let now = generation.load(ordering: .acquiring)
        guard now != seen else { return nil }
        return published.withLock { (generation.load(ordering: .relaxed), $0) }
    }

    /// The registry calls it one change at a time: the next view is made outside the lock, which readers take
    /// only to fetch it.
    private func apply(_ registry: RegistrySnapshot, _ change: RegistryChange) {
        let last = view
        let next = last.updated(to: registry, change)
        published.withLock { $0 = next }
        generation.add(1, ordering: .releasing)
        let unplaced = next.virtualIPs.unplaced.subtracting(last.virtualIPs.unplaced)
        if !unplaced.isEmpty {
            logger?.error(
                "no virtual IP for these services: their addresses are taken (routing.virtualIPRange too small)",
                metadata: ["services": "\(unplaced.sorted().prefix(20).joined(separator: ","))"])
        }
    }
}

extension RoutingView {
    /// One event loop's copy of the published view: `current` costs an atomic load unless the view changed.
    public final class Reader {
        private let router: ServiceRouter
        private var seen: UInt64 = .max
        private var cached: RoutingView

        init(router: ServiceRouter) {
            self.router = router
            cached = router.view
        }

        public var current: RoutingView {
            if let (generation, view) = router.current(ifNot: seen) { (seen, cached) = (generation, view) }
            return cached
        }
    }
}

/// Host names as the registry keys them.
public enum ServiceName {
    /// Lowercased, without port or trailing dot; `nil` for IP literals and empty names.
    public static func normalize(_ host: String) -> String? {
        var name = Substring(host)
        if name.hasPrefix("[") { return nil }  // IPv6 literal
        if let colon = name.lastIndex(of: ":") {
            guard name.utf8[name.index(after: colon)...].allSatisfy(isDigit) else { return nil }
            name = name[..<colon]
        }
        // IPv4 literals (and empty names) first, before any copy: most egress requests name an address.
        guard !name.utf8.allSatisfy({ isDigit($0) || $0 == UInt8(ascii: ".") }) else { return nil }
        return name.lowercased().trimmingDots()
    }

    /// ASCII only: this runs on every request, and Unicode digit classes mean nothing in a host name.
    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}

extension String {
    func trimmingDots() -> String {
        var text = Substring(self)
        while text.hasSuffix(".") { text = text.dropLast() }
        while text.hasPrefix(".") { text = text.dropFirst() }
        return String(text)
    }
}
