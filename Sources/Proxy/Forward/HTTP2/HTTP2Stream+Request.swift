import HTTP1
import MesherBase
import NIOCore
import NIOHPACK
import NIOHTTP2
import Routing

extension HTTP2Stream {
    /// A request's headers: read as an HTTP/1 head, planned by the route rules, then routed and sent.
    func begin(_ headers: HPACKHeaders, endStream: Bool) {
        let limits = forward.environment.settings.httpLimits
        let head: HTTP1Head
        switch HTTP2Messages.requestHead(headers, bodyFollows: !endStream, limits: limits) {
        case .success(let parsed): head = parsed
        case .failure(let error): return refuse(headers, error)
        }
        let authority = head.host
        let plan = forward.plan(head, authority: authority, accepted: accepted)
        let call = HTTP2Call(
            request: head, authority: authority, headers: headers, route: .local(service: plan.target.serviceName),
            policy: plan.policy)
        call.ruleName = plan.decision?.ruleName
        self.call = call
        if let ids = forward.traceIDs { call.trace = HopTrace(request: head, ids: &ids.generator) }
        guard head.hops + 1 <= HTTPForwardHandler.maxHops else { return answer(call, .loopDetected) }
        if let refusal = plan.decision?.answer { return answer(call, refusal) }
        guard let delay = plan.decision?.delay else {
            held = plan
            return server.hold(self)
        }
        eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            guard self.call === call else { return }
            dispatch(call, plan)
        }
    }

    /// The connection's read is done and the stream is still there: its request goes.
    func dispatchHeld() {
        guard let plan = held else { return }
        held = nil
        guard let call else { return }
        dispatch(call, plan)
    }

    /// A request no HTTP/1 head could carry as it is: 400, and a line in the log.
    private func refuse(_ headers: HPACKHeaders, _ error: HTTP2Messages.RequestError) {
        let parseError: HTTP1ParseError
        switch error {
        case .parse(let error): parseError = error
        case .fieldValue: parseError = .invalidFieldValue
        case .hostMismatch: parseError = .invalidHost
        case .pseudoHeader, .connect: parseError = .invalidStartLine
        }
        connection.warnings.log(
            .badRequest, "bad HTTP/2 request",
            metadata: [
                "src": "\(connection.channel.remoteAddress?.logText ?? "-")", "error": "\(parseError.name)",
            ], to: logger)
        let frames = HTTP2Messages.answer(
            .badRequest(parseError), service: nil, grpc: GRPCCall.isGRPC(headers), headOnly: false,
            allocator: server.allocator)
        for frame in frames { write(frame) }
        server.flush()
        forward.logRefusal(
            .badRequest(parseError), on: connection, method: headers.first(name: ":method") ?? "-",
            authority: headers.first(name: ":authority") ?? "-", path: headers.first(name: ":path") ?? "-",
            protocolName: "h2")
        endResponse()
    }

    /// The request picks its instance (of the rule's subset) and goes to it on a stream.
    func dispatch(_ call: HTTP2Call, _ plan: RoutePlan) {
        let decision = plan.decision
        let route = forward.routes.route(
            plan.target, subset: decision?.subset, policy: decision?.policy, endpoints: forward.endpoints)
        call.route = route
        if route.lease != nil {
            call.retry = RequestRetry(
                routes: forward.routes, endpoints: forward.endpoints, logger: logger, metrics: forward.metrics)
        }
        switch route {
        case .noInstance: return answer(call, .noHealthyInstance)
        case .overflow(let service):
            forward.metrics?.overflowed(service: service)
            return answer(call, .overflow)
        case .unroutable, .named: return answer(call, .noRoute)
        case .service, .original, .local: break
        }
        if let (timeout, callers) = Self.deadline(call, policy: route.lease?.policy) {
            call.deadline = eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(timeout))) {
                [self] in
                guard self.call === call, call.responseStatus == nil else { return }
                // A deadline the caller chose says nothing of the instance: only Mesher's own count against it.
                if !callers { chargeFailure(call) }
                answer(call, .requestTimeout)
            }
        }
        armTryTimeout(call)
        let http1 = HTTPMessages.upstreamRequest(
            call.request, authority: call.authority ?? route.address?.logText, hops: call.request.hops + 1,
            forwardedFor: connection.forwardedFor(call.request), upgrade: false, trace: call.trace,
            edits: decision?.edits)
        let trailers = call.request.containsField(named: Array("te".utf8)) { $0.elementsEqual("trailers".utf8) }
        guard
            let headers = HTTP2Messages.upstreamHeaders(
                http1, scheme: "http", trailers: trailers, limits: forward.environment.settings.httpLimits)
        else {
            return answer(call, .badRequest(.invalidStartLine))
        }
        call.upstreamHeaders = headers
        call.upstreamHTTP1Head = http1
        connect(call)
    }

    /// When the request times out: the policy's `requestTimeout` or the caller's earlier `grpc-timeout`
    /// (`callers`: the caller's, which never ejects an instance).
    static func deadline(_ call: HTTP2Call, policy: TrafficPolicy?) -> (UInt64, callers: Bool)? {
        let own = policy?.requestTimeout ?? 0
        guard let callers = call.grpcTimeout, callers > 0, own == 0 || callers < own else {
            return own > 0 ? (own, false) : nil
        }
        return (callers, true)
    }

    /// One try's `retries.perTryTimeout`: the next try goes, or the request times out.
    func armTryTimeout(_ call: HTTP2Call) {
        call.tryDeadline?.cancel()
        call.tryDeadline = nil
        guard let policy = call.route.lease?.policy, policy.perTryTimeout > 0 else { return }
        call.tryDeadline = eventLoop.assumeIsolated().scheduleTask(
            in: .nanoseconds(Int64(policy.perTryTimeout))
        ) { [self] in
            guard self.call === call, call.responseStatus == nil else { return }
            call.tryDeadline = nil
            if retry(call, .gatewayError) { return }
            chargeFailure(call)
            answer(call, .requestTimeout)
        }
    }

    func connect(_ call: HTTP2Call) {
        guard let address = call.route.address else { return answer(call, .noRoute) }
        if forward.environment.loopGuard.refusal(for: address, local: nil) != nil {
            return answer(call, .forbiddenDestination)
        }
        let limit = call.route.lease.map(UpstreamPool.Limit.init)
        if call.route.lease?.instance.protocol == .http1 { return connectHTTP1(call, address, limit) }
        guard case .connection(let connection) = pool.acquire(address, limit: limit) else {
            if let service = call.route.serviceName { forward.metrics?.overflowed(service: service) }
            return answer(call, .overflow)
        }
        let upstream = HTTP2UpstreamStream(receiver: self, connection: connection)
        call.upstream = upstream
        connection.open(upstream)
    }

    /// An instance that speaks only HTTP/1: the call is an exchange on this loop's HTTP/1 pool.
    private func connectHTTP1(_ call: HTTP2Call, _ address: SocketAddress, _ limit: UpstreamPool.Limit?) {
        let bridge = HTTP1UpstreamBridge(receiver: self, pool: forward.pool)
        call.upstream = bridge
        let wanted = { { [weak self] in self?.call === call && call.upstream === bridge } }
        switch forward.pool.acquire(address, limit: limit, wanted: wanted) {
        case .idle(let handler):
            bridge.attach(handler)
            attach(call, bridge)
        case .connecting(let connection):
            connection.assumeIsolated().whenComplete { result in
                guard self.call === call, call.upstream === bridge else {
                    if case .success(let handler) = result { self.forward.pool.release(handler) }
                    return
                }
                switch result {
                case .success(let handler):
                    bridge.attach(handler)
                    self.attach(call, bridge)
                case .failure(let error): self.connectFailed(call, error)
                }
            }
        case .overflow:
            call.upstream = nil
            if let service = call.route.serviceName { forward.metrics?.overflowed(service: service) }
            answer(call, .overflow)
        }
    }

    func attach(_ call: HTTP2Call, _ upstream: any HTTP2CallUpstream) {
        call.route.lease?.sent(now: NIODeadline.now().uptimeNanoseconds)
        let queued = call.queued
        call.queued = []
        upstream.start(call, queued: queued)
        releaseBody()
    }

    func connectFailed(_ call: HTTP2Call, _ error: any Error) {
        call.upstream = nil
        let outcome = ConnectionOutcome(connectError: error)
        forward.metrics?.connectFailed(service: call.route.serviceName, reason: outcome.rawValue)
        // Nothing reached the instance: another one may take the request, whatever its method.
        if let next = call.retry?.next(after: call.route, .connectFailure) { return resend(call, to: next) }
        answer(call, MesherAnswer(connectFailure: outcome))
    }

    /// A part of the request: to the upstream stream, or queued until there is one.
    func requestPart(_ part: HTTP2Call.Part) {
        guard let call else { return }
        if case .data(let data) = part { call.requestBytes += data.readableBytes }
        call.keepForRetry(part)
        if let upstream = call.upstream, upstream.started {
            upstream.send(part)
            server.touched(self)
        } else {
            call.queued.append(part)
        }
    }

    /// The next try of `call`, to `next`, after the policy's backoff.
    func resend(_ call: HTTP2Call, to next: Routed) {
        call.route = next
        armTryTimeout(call)
        let wait = call.retry?.backoff(for: next) ?? .zero
        guard wait > .zero else { return connect(call) }
        eventLoop.assumeIsolated().scheduleTask(in: wait) { [self] in
            guard self.call === call else { return }
            connect(call)
        }
    }
}
