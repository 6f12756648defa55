import HTTP1
import MesherBase
import NIOCore
import Routing

extension HTTPForwardHandler {
    /// A complete request head: its service's route rules decide first (answer here, wait, which subset,
    /// what changes), then it is routed and sent upstream.
    func begin(_ head: HTTP1Head) {
        let isConnect = head.isMethod("CONNECT")
        let plan = forward.plan(head, authority: Self.authority(of: head), accepted: accepted)
        let (target, decision) = (plan.target, plan.decision)
        let kind: HTTPExchange.Kind = isConnect ? .connect : head.isUpgradeRequest ? .upgrade : .plain
        let exchange = HTTPExchange(
            request: head, route: .local(service: target.serviceName), kind: kind,
            retryBodyLimit: plan.policy.retryBodyLimit)
        exchange.ruleName = decision?.ruleName
        self.exchange = exchange
        if let ids = forward.traceIDs { exchange.trace = HopTrace(request: head, ids: &ids.generator) }
        // Every Mesher on the way counts itself: proof that both sides saw a request, and a stop for a
        // misconfiguration that would send it round in circles.
        guard head.hops + 1 <= Self.maxHops else { return answer(exchange, .loopDetected) }
        if let refusal = decision?.answer { return answer(exchange, refusal) }
        guard let delay = decision?.delay, let context else { return dispatch(exchange, target, decision) }
        // An injected delay: the body waits in the queue (reading stops while nothing takes it).
        context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            guard self.exchange === exchange, exchange.answer == nil else { return }
            dispatch(exchange, target, decision)
        }
    }

    /// The request picks its instance (of the rule's subset) and goes to it.
    private func dispatch(_ exchange: HTTPExchange, _ target: RouteTarget, _ decision: RouteDecision?) {
        let route = forward.routes.route(
            target, subset: decision?.subset, policy: decision?.policy, endpoints: forward.endpoints)
        exchange.route = route
        if route.lease != nil {
            exchange.retry = RequestRetry(
                routes: forward.routes, endpoints: forward.endpoints, logger: logger, metrics: forward.metrics)
        }
        switch route {
        case .noInstance: return answer(exchange, .noHealthyInstance)
        case .overflow(let service):
            forward.metrics?.overflowed(service: service)
            return answer(exchange, .overflow)
        case .unroutable: return answer(exchange, .noRoute)
        case .service, .original, .named, .local: break
        }
        let head = exchange.request
        if exchange.kind == .connect && accepted.listener == .explicitProxy { return connectTunnel(exchange) }
        if let lease = route.lease {
            if lease.policy.requestTimeout > 0 {
                let deadline = NIODeadline.now() + .nanoseconds(Int64(lease.policy.requestTimeout))
                exchange.deadline = deadline
                armRequestTimer(at: deadline)
            }
            armTryTimeout(exchange, policy: lease.policy)
        }
        let forwardedFor = connection.forwardedFor(head)
        // HTTP/1.1 upstream needs a Host: an HTTP/1.0 request without one gets the address it goes to.
        let host = Self.authority(of: head) ?? route.address?.logText
        exchange.upstreamHead = HTTPMessages.upstreamRequest(
            head, authority: host, hops: head.hops + 1, forwardedFor: forwardedFor, upgrade: exchange.kind == .upgrade,
            trace: exchange.trace, edits: decision?.edits)
        connect(exchange, fresh: false)
    }

    /// Runs `expired` after `nanoseconds` (0: never) unless the exchange got its response head or an answer
    /// meanwhile: each try's `retries.perTryTimeout`.
    private func schedule(
        after nanoseconds: UInt64, for exchange: HTTPExchange, _ expired: @escaping () -> Void
    ) -> Scheduled<Void>? {
        guard nanoseconds > 0, let context else { return nil }
        return context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(nanoseconds))) { [self] in
            guard self.exchange === exchange, exchange.responseStatus == nil, exchange.answer == nil else { return }
            expired()
        }
    }

    /// One try of a service's request gets its response head within `retries.perTryTimeout`, or the next try
    /// goes (as after a gateway error, when the request may be sent again), else a 504.
    private func armTryTimeout(_ exchange: HTTPExchange, policy: TrafficPolicy) {
        exchange.tryDeadline?.cancel()
        exchange.tryDeadline = nil
        guard policy.perTryTimeout > 0 else { return }
        exchange.tryDeadline = schedule(after: policy.perTryTimeout, for: exchange) { [self] in
            exchange.tryDeadline = nil
            if retry(exchange, .gatewayError) { return }
            chargeFailure(exchange)
            answer(exchange, .requestTimeout)
        }
    }

    /// The next try of `exchange`, to `next`, after the policy's backoff (at once for none).
    func resend(_ exchange: HTTPExchange, to next: Routed) {
        exchange.route = next
        exchange.attempt = .fresh
        if let lease = next.lease { armTryTimeout(exchange, policy: lease.policy) }
        let wait = exchange.retry?.backoff(for: next) ?? .zero
        guard wait > .zero, let context else { return connect(exchange, fresh: true) }
        context.eventLoop.assumeIsolated().scheduleTask(in: wait) { [self] in
            guard self.exchange === exchange, exchange.answer == nil else { return }
            connect(exchange, fresh: true)
        }
    }

    /// The authority a request names: an absolute-form target's wins over Host (RFC 9112 §3.2.2); CONNECT
    /// names it as its target.
    static func authority(of head: HTTP1Head) -> String? {
        switch head.targetForm {
        case .absolute(let authority, _): head.string(authority)
        case .authority: head.target
        case .origin, .asterisk: head.host
        }
    }

    func connect(_ exchange: HTTPExchange, fresh: Bool) {
        // The usual case, a known address and an idle pooled connection, takes no future and no closure.
        if let address = exchange.route.address { return acquire(exchange, address: address, fresh: fresh) }
        exchange.route.resolveAddress(on: pool.eventLoop).assumeIsolated().whenComplete { result in
            guard self.exchange === exchange else { return }
            switch result {
            case .success(let address): self.acquire(exchange, address: address, fresh: fresh)
            case .failure: self.answer(exchange, .nameNotResolved)
            }
        }
    }

    private func acquire(_ exchange: HTTPExchange, address: SocketAddress, fresh: Bool) {
        // Never one of Mesher's own ports (an explicit-proxy request for the admin port, say).
        if forward.environment.loopGuard.refusal(for: address, local: nil) != nil {
            return answer(exchange, .forbiddenDestination)
        }
        let limit = exchange.route.lease.map(UpstreamPool.Limit.init)
        if exchange.route.lease?.instance.protocol == .h2c && exchange.kind == .plain {
            return acquireStream(exchange, address: address, limit: limit)
        }
        let wanted = { { [weak self] in self?.exchange === exchange && exchange.answer == nil } }
        switch pool.acquire(address, fresh: fresh, limit: limit, wanted: wanted) {
        case .idle(let upstream):
            exchange.attempt = .pooled
            attach(exchange, result: .success(upstream))
        case .connecting(let connection):
            connection.assumeIsolated().whenComplete { result in
                self.attach(exchange, result: result.map { $0 as any ExchangeUpstream })
            }
        case .overflow:
            if let service = exchange.route.serviceName { forward.metrics?.overflowed(service: service) }
            answer(exchange, .overflow)
        }
    }

    /// An instance that speaks only HTTP/2: the request is a stream on one of this loop's multiplexed
    /// connections to it.
    private func acquireStream(_ exchange: HTTPExchange, address: SocketAddress, limit: UpstreamPool.Limit?) {
        guard case .connection(let connection) = forward.http2Pool.acquire(address, limit: limit) else {
            if let service = exchange.route.serviceName { forward.metrics?.overflowed(service: service) }
            return answer(exchange, .overflow)
        }
        _ = HTTP2UpstreamBridge(connection: connection, limits: settings.httpLimits) { [weak self] result in
            self?.attach(exchange, result: result)
        }
    }

    private func attach(_ exchange: HTTPExchange, result: Result<any ExchangeUpstream, any Error>) {
        guard self.exchange === exchange, exchange.answer == nil else {
            // The client went away meanwhile; the connection is fine for the next one.
            if case .success(let upstream) = result { upstream.finished(reusable: true, pool: pool) }
            return
        }
        switch result {
        case .success(let upstream):
            exchange.route.lease?.sent(now: NIODeadline.now().uptimeNanoseconds)
            exchange.upstream = upstream
            upstream.receiver = self
            upstream.sendHead(exchange.upstreamHead, kind: exchange.upstreamKind)
            for part in exchange.queued {
                switch part {
                case .body(let data):
                    upstream.sendBody(data, chunked: exchange.isChunked)
                case .end(let trailers):
                    upstream.sendEnd(trailers: trailers, chunked: exchange.isChunked)
                }
            }
            exchange.queued = []
            upstream.flush()
            readIfPending()
        case .failure(let error):
            let outcome = ConnectionOutcome(connectError: error)
            forward.metrics?.connectFailed(service: exchange.route.serviceName, reason: outcome.rawValue)
            // Nothing reached the instance: another one may take the request, whatever its method.
            if let next = exchange.retry?.next(after: exchange.route, .connectFailure) {
                return resend(exchange, to: next)
            }
            answer(exchange, MesherAnswer(connectFailure: outcome))
        }
    }

    func requestBody(_ data: ByteBuffer) {
        guard let exchange else { return }
        exchange.requestBytes += data.readableBytes
        guard exchange.answer == nil else { return }  // read and dropped
        exchange.keepForRetry(.body(data))
        if let upstream = exchange.upstream {
            upstream.sendBody(data, chunked: exchange.isChunked)
        } else {
            exchange.queued.append(.body(data))
        }
    }

    func requestEnd(_ trailers: ByteBuffer?) {
        guard let exchange else { return }
        if exchange.answer != nil { return finishAnswer(exchange) }
        exchange.keepForRetry(.end(trailers: trailers))
        if let upstream = exchange.upstream {
            upstream.sendEnd(trailers: trailers, chunked: exchange.isChunked)
        } else {
            exchange.queued.append(.end(trailers: trailers))
        }
    }

    /// The request body broke its own framing midway: whatever the upstream got is cut off.
    func requestBodyFailed(_ error: HTTP1ParseError) {
        guard let exchange else { return refuse(.badRequest(error)) }
        exchange.upstream?.abandon()
        exchange.upstream = nil
        guard exchange.responseStatus == nil else {
            logExchange(exchange, status: exchange.responseStatus ?? 0, error: .upstreamReset)
            self.exchange = nil
            return resetConnection()
        }
        self.exchange = nil
        refuse(.badRequest(error), request: exchange)
    }
}
