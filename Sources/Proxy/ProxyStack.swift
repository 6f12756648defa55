import Limits
import NIOCore
import Prometheus
import Routing
import Synchronization
import Telemetry

/// What each event loop keeps for itself, so that no connection or request takes a lock another loop uses:
/// its upstream connection pool, the destinations it saw speak first, its balancer state, its metric handles,
/// and its own count of the warnings a flood could repeat (at most one line per kind and loop in 10 s).
final class LoopState {
    let pool: UpstreamPool
    let http2Pool: HTTP2UpstreamPool
    let serverFirst: ServerFirstCache
    /// Its balancer's view of every service's instances (outstanding, latency, ejections).
    let endpoints: EndpointTable
    let warnings = RateLimitedLog<ProxyWarning>()
    let metrics: LoopMetrics?
    let traceIDs: TraceIDs?
    let rules: LoopRoutes
    /// Service routing by the loop's copy of the routing view.
    let routes: RouteTable

    /// `registry`: where its metrics go (none without); `index`: the loop's number; `tracing`: it makes ids.
    init(
        pool: UpstreamPool, http2Pool: HTTP2UpstreamPool, serverFirst: ServerFirstCache, endpoints: EndpointTable,
        registry: PrometheusCollectorRegistry?, index: Int, tracing: Bool, rules: RoutingRules, router: ServiceRouter?
    ) {
        self.rules = LoopRoutes(rules)
        routes = RouteTable(router: router)
        self.pool = pool
        self.http2Pool = http2Pool
        self.serverFirst = serverFirst
        self.endpoints = endpoints
        metrics = LoopMetrics(registry: registry, loop: index)
        traceIDs = tracing ? TraceIDs() : nil
        if let metrics {
            endpoints.onNewService = { [unowned metrics] in metrics.prepare(service: $0) }
            metrics.prepareAnswers(MesherAnswer.unparsedReasons)
        }
    }
}

/// The rules every loop has installed, for the next reload to start from.
private final class InstalledRules: Sendable {
    let value: Mutex<RoutingRules>

    init(_ rules: RoutingRules) { value = Mutex(rules) }
}

/// The stages put together for one accepted connection: Accept → Detect → Route → Connect → Forward (a TCP
/// byte relay, or HTTP). Each stage hands the next a typed value; only this file knows them all.
struct ProxyStack: Sendable {
    let environment: ProxyEnvironment
    let connector: UpstreamConnector
    let loops: [ObjectIdentifier: NIOLoopBoundBox<LoopState>]
    /// The rules the loops use now (read and replaced by reloads only).
    private let installed: InstalledRules

    /// `metrics`: where each loop's metrics go (`nil`: none are recorded).
    init(
        environment: ProxyEnvironment, router: ServiceRouter?, group: any EventLoopGroup,
        metrics: PrometheusCollectorRegistry? = nil
    ) {
        self.environment = environment
        let connector = UpstreamConnector(settings: environment.settings)
        self.connector = connector
        var loops: [ObjectIdentifier: NIOLoopBoundBox<LoopState>] = [:]
        let settings = environment.settings
        let loopCount = Array(group.makeIterator()).count
        let rules = settings.routingRules
        installed = InstalledRules(rules)
        let ejections = EjectionLedger()
        var index = 0
        for eventLoop in group.makeIterator() {
            defer { index += 1 }
            let state = LoopState(
                pool: UpstreamPool(eventLoop: eventLoop, limits: settings.httpLimits, connector: connector),
                http2Pool: HTTP2UpstreamPool(
                    eventLoop: eventLoop, connector: connector, limits: settings.http2,
                    maxHeaderListSize: settings.httpLimits.maxHeadBytes),
                serverFirst: ServerFirstCache(capacity: settings.serverFirstCapacity, ttl: settings.serverFirstTTL),
                endpoints: EndpointTable(policies: settings.traffic, loops: loopCount, ejections: ejections),
                registry: metrics, index: index, tracing: settings.tracing, rules: rules,
                router: router)
            loops[ObjectIdentifier(eventLoop)] = .makeBoxSendingValue(state, eventLoop: eventLoop)
        }
        self.loops = loops
    }

    /// The state of `eventLoop`; every loop of the group has one. Call it on that loop.
    func loop(_ eventLoop: any EventLoop) -> LoopState {
        guard let box = loops[ObjectIdentifier(eventLoop)] else { preconditionFailure("no state for \(eventLoop)") }
        return box.value
    }

    /// A reload: every loop swaps in its copy of `rules` and its services' new policies, on the loop, between
    /// two requests; connections, pools and what the balancers learnt stay.
    func install(_ new: RoutingRules) async {
        let rules = installed.value.withLock { current in
            current = new.keepingLimiters(of: current)
            return current
        }
        await withTaskGroup(of: Void.self) { group in
            for box in loops.values {
                group.addTask {
                    try? await box.eventLoop.submit {
                        box.value.rules.install(rules)
                        box.value.endpoints.update(policies: rules.policies)
                    }.get()
                }
            }
        }
    }

    /// A connection on a capture listener: Accept and Detect run first, in `DetectHandler`.
    func initializeCaptured(
        _ channel: any Channel, listener: ListenerKind,
        lookup: @escaping OriginalDestinationLookup = OriginalDestination.of
    ) throws {
        let loop = loop(channel.eventLoop)
        let connection = DownstreamConnection(
            channel: channel, direction: listener.direction, environment: environment, warnings: loop.warnings,
            metrics: loop.metrics)
        let policy = AcceptPolicy(listener: listener, loopGuard: environment.loopGuard, lookup: lookup)
        let detect = DetectHandler(
            connection: connection, policy: policy, serverFirst: loop.serverFirst,
            updateServerFirst: shareServerFirst, http2Known: { http2Known($0, loop) }, handOff: handOff(loop))
        try channel.pipeline.syncOperations.addHandler(detect)
    }

    /// A destination seen to speak first goes into every loop's cache (or out of it, once seen not to), each
    /// on its own loop: a hop per loop when a destination is learnt (once per destination and expiry), none
    /// when one is looked up.
    func shareServerFirst(_ destination: SocketAddress, speaksFirst: Bool) {
        for box in loops.values {
            box.eventLoop.execute {
                if speaksFirst {
                    box.value.serverFirst.insert(destination, now: box.eventLoop.now)
                } else {
                    box.value.serverFirst.remove(destination)
                }
            }
        }
    }

    /// A connection on the explicit proxy: HTTP by definition, with no original destination.
    func initializeExplicitProxy(_ channel: any Channel) throws {
        let loop = loop(channel.eventLoop)
        let connection = DownstreamConnection(
            channel: channel, direction: .outbound, environment: environment, warnings: loop.warnings,
            metrics: loop.metrics)
        connection.labels.protocolName = "http"
        let forward = HTTPForwardHandler(
            connection: connection, accepted: Accepted(listener: .explicitProxy, original: nil),
            forward: httpContext(loop))
        try channel.pipeline.syncOperations.addHandler(forward)
        connection.startIdleTimer()
    }

    func httpContext(_ loop: LoopState) -> HTTPForwardContext {
        HTTPForwardContext(
            environment: environment, routes: loop.routes, rules: loop.rules, pool: loop.pool,
            http2Pool: loop.http2Pool, endpoints: loop.endpoints,
            connector: connector,
            metrics: loop.metrics, traceIDs: loop.traceIDs)
    }

    /// HTTP/2 is taken apart stream by stream on the inbound side (the app's port) and where its destination
    /// is a service: by virtual IP, a registered instance's address and port, or the first request's
    /// `:authority`. Elsewhere (an unknown destination) it stays an opaque relay.
    private func http2AtL7(_ authority: String?, _ accepted: Accepted, _ loop: LoopState) -> Bool {
        http2Known(accepted, loop) || loop.routes.target(host: authority, accepted: accepted).serviceName != nil
    }

    /// Known without a request: the inbound side, a service's virtual IP, a registered instance.
    private func http2Known(_ accepted: Accepted, _ loop: LoopState) -> Bool {
        if accepted.direction == .inbound { return true }
        guard let view = loop.routes.routing?.current, let original = accepted.original,
            let address = original.ipBytes
        else { return false }
        return view.service(forVirtualIP: address) != nil
            || view.service(atInstance: address, port: original.port ?? 0) != nil
    }

    /// After Detect: HTTP is forwarded request by request (routed per request); anything else is routed once
    /// and relayed as bytes, to a service instance when the app dialled a service's virtual IP.
    func handOff(_ loop: LoopState) -> DetectHandler.HandOff {
        { detected, connection, context in
            let pipeline = context.pipeline.syncOperations
            if detected.protocolSeen == .http {
                let forward = HTTPForwardHandler(
                    connection: connection, accepted: detected.accepted, forward: httpContext(loop))
                do {
                    try pipeline.addHandler(forward, position: .after(context.handler))
                } catch {
                    return .failed
                }
                connection.startIdleTimer()
                return .installed(start: nil)
            }
            if case .http2(let authority) = detected.protocolSeen, http2AtL7(authority, detected.accepted, loop) {
                do {
                    try HTTP2Server.install(
                        on: pipeline, after: context.handler, connection: connection, accepted: detected.accepted,
                        forward: httpContext(loop))
                } catch {
                    return .failed
                }
                connection.startIdleTimer()
                return .installed(start: nil)
            }
            if detected.accepted.direction == .inbound, loop.rules.admitInbound() != nil {
                return .refused(.rateLimited)
            }
            let route = loop.routes.route(host: nil, accepted: detected.accepted, endpoints: loop.endpoints)
            if case .overflow(let service) = route {
                loop.metrics?.overflowed(service: service)
                return .refused(.overflow)
            }
            guard route.address != nil else { return .refused(.noInstance) }
            let relay = RelayHandler(side: .downstream, connection: connection)
            do {
                try pipeline.addHandler(relay, position: .after(context.handler))
            } catch {
                return .failed
            }
            let forward = TCPForward(connection: connection, connector: connector, loopGuard: environment.loopGuard)
            let retry = RequestRetry(
                routes: loop.routes, endpoints: loop.endpoints, logger: environment.logger, metrics: loop.metrics)
            return .installed { forward.start(to: route, relay, retry: retry) }
        }
    }
}
