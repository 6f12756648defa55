import Limits
import Logging
import NIOCore
import NIOPosix
import Prometheus
import Routing
import Synchronization

/// Mesher's listeners: outbound and inbound capture (what iptables REDIRECTs), and the explicit HTTP proxy.
public final class ProxyServer: Sendable {
    /// Given up when the drain starts: a quiescing helper must be released while its event loop runs
    /// (its deinit schedules there), not whenever the last task that held the server happens to end.
    private let listeners: Mutex<[Listener]>
    private let environment: ProxyEnvironment
    private let limiter: ConnectionLimiter
    private let group: any EventLoopGroup
    /// `MemoryReturn`'s check, until the drain.
    private let memoryReturn: RepeatedTask
    let stack: ProxyStack
    /// Where each listener listens, for the admin API (kept after the drain gives the listeners up).
    public let listening: [(kind: ListenerKind, address: SocketAddress?)]

    private init(
        bound: [Listener], environment: ProxyEnvironment, limiter: ConnectionLimiter, group: any EventLoopGroup,
        stack: ProxyStack
    ) {
        listeners = Mutex(bound)
        self.environment = environment
        self.limiter = limiter
        self.group = group
        self.stack = stack
        listening = bound.map { ($0.kind, $0.address) }
        memoryReturn = MemoryReturn(slowReaders: environment.slowReaders, connections: limiter).start(on: group.next())
    }

    /// Binds every configured address; an address this host does not have (no IPv6) is skipped with a warning.
    public static func start(
        settings: ProxySettings, logger: Logger, accessLog: AccessLog?, router: ServiceRouter?,
        group: any EventLoopGroup, metrics: PrometheusCollectorRegistry? = nil
    ) throws -> ProxyServer {
        var settings = settings
        // Never more connections than descriptors allow: at the cap accepting pauses, where running out of
        // descriptors would fail accepts, upstream connects and the registry alike.
        let fit = FileDescriptorLimit.connectionsThatFit(
            descriptors: FileDescriptorLimit.current, otherwiseReserved: settings.otherReservedDescriptors)
        if fit < settings.maxConnections {
            logger.warning(
                "connection limit lowered to what the descriptor limit allows",
                metadata: [
                    "maxConnections": "\(fit)", "configured": "\(settings.maxConnections)",
                    "nofile": "\(FileDescriptorLimit.current)",
                ])
            settings.maxConnections = fit
        }
        let environment = ProxyEnvironment(
            settings: settings,
            loopGuard: LoopGuard(
                ownPorts: settings.ownPorts, localAddresses: LocalAddressTable(LocalAddressTable.system())),
            logger: logger, accessLog: accessLog)
        let stack = ProxyStack(environment: environment, router: router, group: group, metrics: metrics)
        let limiter = ConnectionLimiter(limit: settings.maxConnections)
        let waterMark = settings.writeBufferWaterMark

        var bound = try Listener.bind(
            .outbound, settings.outbound, group: group, waterMark: waterMark, limiter: limiter, logger: logger
        ) { try stack.initializeCaptured($0, listener: .outbound) }
        if let inbound = settings.inbound {
            bound += try Listener.bind(
                .inbound, inbound, group: group, waterMark: waterMark, limiter: limiter, logger: logger
            ) { try stack.initializeCaptured($0, listener: .inbound) }
        }
        if let explicitProxy = settings.explicitProxy {
            // `HTTP_PROXY=http://127.0.0.1:30101`: requests in absolute form and CONNECT, no capture involved.
            bound += try Listener.bind(
                .explicitProxy, explicitProxy, group: group, waterMark: waterMark, limiter: limiter, logger: logger
            ) { try stack.initializeExplicitProxy($0) }
        }
        return ProxyServer(bound: bound, environment: environment, limiter: limiter, group: group, stack: stack)
    }

    /// Downstream connections open now, all listeners together.
    public var openConnections: Int { limiter.count }

    /// New route rules and traffic policies, in effect on every event loop when this returns.
    public func install(_ rules: RoutingRules) async {
        await stack.install(rules)
    }

    /// Drains: the listeners close, every open connection is told to quiesce (an idle HTTP connection closes
    /// at once, one with a request in flight after its response, a byte relay when it ends), and the future
    /// completes as soon as the last one has closed, or at `timeout`, when what remains is closed.
    public func startDraining(timeout: TimeAmount) -> EventLoopFuture<Void> {
        let eventLoop = group.next()
        memoryReturn.cancel()
        environment.drain.set(.now() + timeout)
        let bound = listeners.withLock { listeners in
            defer { listeners = [] }
            return listeners
        }
        let closed = bound.map { listener in
            let promise = eventLoop.makePromise(of: Void.self)
            listener.quiescing.initiateShutdown(promise: promise)
            return promise.futureResult
        }
        let logger = environment.logger
        let limiter = limiter
        return eventLoop.flatSubmit {
            let done = eventLoop.makePromise(of: Void.self)
            // Each connection closes itself at the deadline (`DownstreamConnection.quiesce`): this reports it,
            // and stops waiting shortly after in case a close never completes.
            let atDeadline = eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                logger.info("drain timeout: closing open connections", metadata: ["open": "\(limiter.count)"])
            }
            let backstop = eventLoop.assumeIsolated().scheduleTask(in: timeout + .seconds(1)) {
                done.succeed()
            }
            EventLoopFuture.andAllComplete(closed, on: eventLoop).assumeIsolated().whenComplete { _ in
                atDeadline.cancel()
                backstop.cancel()
                done.succeed()
            }
            return done.futureResult
        }
    }

    /// `startDraining`, awaited.
    public func drain(timeout: TimeAmount) async {
        try? await startDraining(timeout: timeout).get()
    }
}
