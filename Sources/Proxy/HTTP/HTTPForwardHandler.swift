import Foundation
import NIOCore
import NIOHTTP1
import Routing

/// L7 forwarding of one downstream HTTP/1.x connection: each request is routed (Host → service →
/// instance, else the original destination), sent on a pooled keep-alive upstream connection, and its
/// response streamed back.
///
/// It also orders pipelined requests and answers malformed ones (NIO's HTTPServerPipelineHandler and
/// HTTPServerProtocolErrorHandler do that too, but stop reading after every request: two epoll_ctl calls
/// per request). Reading stops only while a request that arrived early is held.
final class HTTPForwardHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamResponseReceiver {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// One request in flight.
    private final class Exchange {
        let head: HTTPRequestHead
        let route: UpstreamRoute
        let started = NIODeadline.now()
        /// The request head as sent upstream (when it is forwarded at all): sent on every connection the
        /// exchange gets, so also on the one of a retry.
        var upstreamHead: HTTPRequestHead?
        /// Body parts and end not yet sent because the upstream connection is not ready.
        var queued: [HTTPClientRequestPart] = []
        var upstream: UpstreamHTTPHandler?
        var reused = false
        var retried = false
        var requestEnded = false
        var bodySent = false
        var responseHead: HTTPResponseHead?
        var responseBytes = 0
        /// Set when Mesher answers itself; the request's remaining parts are read and dropped.
        var generatedError: String?

        init(head: HTTPRequestHead, route: UpstreamRoute) {
            self.head = head
            self.route = route
        }
    }

    private let session: RelaySession
    private let pool: UpstreamPool
    private var context: ChannelHandlerContext?
    private var exchange: Exchange?
    private var pendingRead = false
    /// The app half-closed: close once the request in flight has its response.
    private var closeWhenIdle = false
    /// What arrived after a complete request whose response is not done yet: the next request(s).
    private var held = CircularBuffer<HeldInput>()
    /// The connection closes once the current response is written; later requests are dropped.
    private var closing = false

    private enum HeldInput {
        case part(HTTPServerRequestPart)
        case inputClosed
        case error(any Error)
    }

    init(session: RelaySession) {
        self.session = session
        self.pool = session.environment.pool(for: session.downstream.eventLoop)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    // MARK: - Requests from the app

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session.activity &+= 1
        let part = unwrapInboundIn(data)
        if closing { return }
        if mustHold { return held.append(.part(part)) }
        handle(part, context: context)
    }

    /// A complete request waits for its response, or earlier input waits: new input waits its turn.
    private var mustHold: Bool { exchange?.requestEnded == true || !held.isEmpty }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            begin(head, context: context)
        case .body(let buffer):
            session.bytesUp += buffer.readableBytes
            send(.body(.byteBuffer(buffer)))
        case .end(let trailers):
            if let exchange, exchange.head.headers.isUpgradeRequest, exchange.generatedError == nil,
                exchange.head.method != .CONNECT
            {
                // After the upgrade request the connection speaks another protocol: relay bytes from here on.
                self.exchange = nil
                return HTTPUpgradeTunnel.start(
                    head: Self.upstreamHead(exchange.head, keepUpgrade: true), route: exchange.route, session: session,
                    context: context)
            }
            exchange?.requestEnded = true
            send(.end(trailers))
            if let exchange, let error = exchange.generatedError { finishGenerated(exchange, error: error) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstream?.flush()
        context.fireChannelReadComplete()
    }

    /// Backpressure: read from the app only while the upstream can take the request body, and not while
    /// a pipelined request is held.
    func read(context: ChannelHandlerContext) {
        let upstreamFull = exchange.map { $0.generatedError == nil && !($0.upstream?.isWritable ?? false) } ?? false
        if !held.isEmpty || upstreamFull {
            pendingRead = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            if mustHold { held.append(.inputClosed) } else { inputClosed(context: context) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func inputClosed(context: ChannelHandlerContext) {
        closeWhenIdle = true
        if exchange == nil { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The app left mid-exchange: that upstream connection is in an unknown state, never reuse it.
        exchange?.upstream?.abandon()
        exchange = nil
        session.sideClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            // The app reset the connection or similar: nothing to answer.
            session.environment.logger.debug("downstream error", metadata: ["error": "\(error)"])
            session.fail(.reset)
            return context.close(promise: nil)
        }
        if closing { return }
        if mustHold { return held.append(.error(error)) }
        badRequest(error, context: context)
    }

    /// A malformed request: 400 unless part of a response is already out, then close (the decoder has
    /// stopped; nothing after the error can be trusted).
    private func badRequest(_ error: any Error, context: ChannelHandlerContext) {
        let tooLarge = (error as? HTTPParserError) == .headerOverflow
        session.environment.logger.warning(
            tooLarge ? "request head too large" : "bad HTTP request",
            metadata: [
                "src": "\(session.downstream.remoteAddress.map(RelaySession.format) ?? "-")", "error": "\(error)",
            ])
        session.fail(.reset)
        closing = true
        held.removeAll()
        if let exchange {
            self.exchange = nil
            exchange.upstream?.abandon()
            if exchange.responseHead != nil { return context.close(promise: nil) }
        }
        var headers = HTTPHeaders([("connection", "close"), ("content-length", "0")])
        if tooLarge { headers.add(name: "x-mesher-error", value: "header-too-large") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers))),
            promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// Once a response is done: the held input, in order, until a request is complete again.
    private func releaseHeld(context: ChannelHandlerContext) {
        while !closing, exchange?.requestEnded != true, let next = held.popFirst() {
            switch next {
            case .part(let part): handle(part, context: context)
            case .inputClosed: inputClosed(context: context)
            case .error(let error): badRequest(error, context: context)
            }
        }
        readIfPending()
    }

    private func begin(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let destination = session.destination
        let route = UpstreamRoute.resolve(host: head.authority, destination: destination, session: session)
        let exchange = Exchange(head: head, route: route)
        self.exchange = exchange
        // Every Mesher on the way counts itself: proof that both sides saw a request, and a stop for a
        // misconfiguration that would send it round in circles.
        let hops = (head.headers.first(name: Self.hopHeader).flatMap(Int.init) ?? 0) + 1
        guard hops <= Self.maxHops else {
            exchange.generatedError = "loop-detected"
            return
        }
        switch route {
        case .noInstance:
            exchange.generatedError = "no-healthy-instance"
            return
        case .unroutable:
            exchange.generatedError = "no-route"
            return
        case .service, .original, .named: break
        }
        if head.method == .CONNECT {
            self.exchange = nil
            return HTTPConnectTunnel.start(exchange.route, session: session, context: context)
        }
        guard !head.headers.isUpgradeRequest else { return }  // tunnelled at .end
        var upstreamHead = Self.upstreamHead(head)
        upstreamHead.headers.replaceOrAdd(name: Self.hopHeader, value: "\(hops)")
        if session.environment.settings.addForwardedFor, let client = session.downstream.remoteAddress?.ipAddress {
            let previous = head.headers["x-forwarded-for"].joined(separator: ", ")
            upstreamHead.headers.replaceOrAdd(
                name: "x-forwarded-for", value: previous.isEmpty ? client : "\(previous), \(client)")
        }
        exchange.upstreamHead = upstreamHead
        connect(exchange, fresh: false)
    }

    static let hopHeader = "x-mesher-hop"
    /// Two Meshers per call (consumer and provider side), a few calls deep: far more is a loop.
    static let maxHops = 16

    private func connect(_ exchange: Exchange, fresh: Bool) {
        // The usual case, a known address and an idle pooled connection, takes no future and no closure.
        if let address = exchange.route.address { return acquire(exchange, address: address, fresh: fresh) }
        exchange.route.resolveAddress(on: pool.eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let address):
                self.acquire(exchange, address: address, fresh: fresh)
            case .failure:
                guard self.exchange === exchange else { return }
                self.respondWithError(exchange, error: "name-not-resolved")
            }
        }
    }

    private func acquire(_ exchange: Exchange, address: SocketAddress, fresh: Bool) {
        switch pool.acquire(address, fresh: fresh) {
        case .idle(let upstream):
            exchange.reused = true
            attach(exchange, result: .success(upstream))
        case .connecting(let connection):
            connection.assumeIsolated().whenComplete { self.attach(exchange, result: $0) }
        }
    }

    private func attach(_ exchange: Exchange, result: Result<UpstreamHTTPHandler, any Error>) {
        guard self.exchange === exchange else {
            // The app went away meanwhile; the connection is fine for the next one.
            if case .success(let upstream) = result { pool.release(upstream) }
            return
        }
        switch result {
        case .success(let upstream):
            exchange.upstream = upstream
            upstream.receiver = self
            if let head = exchange.upstreamHead { upstream.send(.head(head)) }
            for part in exchange.queued { upstream.send(part) }
            exchange.bodySent = exchange.queued.contains { if case .body = $0 { true } else { false } }
            exchange.queued = []
            upstream.flush()
            readIfPending()
        case .failure(let error):
            respondWithError(exchange, error: Self.errorName(RelaySession.outcome(of: error)))
        }
    }

    private func send(_ part: HTTPClientRequestPart) {
        guard let exchange, exchange.generatedError == nil else { return }
        if let upstream = exchange.upstream {
            upstream.send(part)
            if case .body = part { exchange.bodySent = true }
        } else {
            exchange.queued.append(part)
        }
    }

    private func readIfPending() {
        guard pendingRead, held.isEmpty, let context else { return }
        pendingRead = false
        context.read()
    }

    // MARK: - Responses from the upstream

    func upstreamResponse(_ part: HTTPClientResponsePart) {
        guard let context, let exchange else { return }
        switch part {
        case .head(var head):
            if head.status.code / 100 == 1 && head.status != .switchingProtocols {
                head.version = exchange.head.version
                return context.write(wrapOutboundOut(.head(head)), promise: nil)  // 100 Continue and friends
            }
            exchange.responseHead = head
            head.version = exchange.head.version
            head.headers.removeHopByHop()
            if !exchange.head.isKeepAlive { head.headers.replaceOrAdd(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(head)), promise: nil)
        case .body(let buffer):
            exchange.responseBytes += buffer.readableBytes
            session.bytesDown += buffer.readableBytes
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            if !context.channel.isWritable { exchange.upstream?.pauseReading() }
        case .end(let trailers):
            finish(exchange, trailers: trailers, context: context)
        }
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamWritable() {
        readIfPending()
    }

    func upstreamClosed(error: (any Error)?) {
        guard let context, let exchange else { return }
        exchange.upstream = nil
        if exchange.responseHead != nil {
            // Part of the response is already with the app: the only honest thing left is to cut it off.
            logExchange(exchange, status: exchange.responseHead?.status.code ?? 0, error: "upstream-reset")
            self.exchange = nil
            return RelayHandler.reset(context.channel)
        }
        // A pooled connection the upstream had closed meanwhile (the keep-alive race): the request did not
        // get an answer, so an idempotent one without a body is sent once more on a new connection.
        if exchange.reused && !exchange.retried && !exchange.bodySent && Self.idempotent.contains(exchange.head.method)
        {
            exchange.retried = true
            exchange.queued = exchange.requestEnded ? [.end(nil)] : []
            return connect(exchange, fresh: true)
        }
        respondWithError(exchange, error: "upstream-reset")
    }

    static let idempotent: [HTTPMethod] = [.GET, .HEAD, .OPTIONS, .PUT, .DELETE, .TRACE]

    /// The request as sent upstream: HTTP/1.1, origin-form target, no hop-by-hop headers
    /// (but an upgrade keeps the two headers that ask for it).
    static func upstreamHead(_ head: HTTPRequestHead, keepUpgrade: Bool = false) -> HTTPRequestHead {
        var upstream = head
        upstream.version = .http1_1
        upstream.headers.removeHopByHop()
        // Origin form ("/path", the usual case) needs no search; absolute form comes from explicit-proxy clients.
        if !head.uri.hasPrefix("/"), let schemeEnd = head.uri.range(of: "://") {
            let afterAuthority = head.uri[schemeEnd.upperBound...].drop { $0 != "/" && $0 != "?" }
            upstream.uri = afterAuthority.hasPrefix("?") ? "/" + afterAuthority : String(afterAuthority)
            if upstream.uri.isEmpty { upstream.uri = "/" }
            if !upstream.headers.contains(name: "host"), let authority = head.authority {
                upstream.headers.add(name: "host", value: authority)
            }
        }
        if keepUpgrade {
            upstream.headers.add(name: "connection", value: "upgrade")
            for value in head.headers["upgrade"] { upstream.headers.add(name: "upgrade", value: value) }
        }
        return upstream
    }

    private func finish(_ exchange: Exchange, trailers: HTTPHeaders?, context: ChannelHandlerContext) {
        let keepAlive = exchange.head.isKeepAlive
        let upstreamReusable = exchange.requestEnded && (exchange.responseHead?.isKeepAlive ?? false)
        if let upstream = exchange.upstream {
            exchange.upstream = nil
            if upstreamReusable {
                pool.release(upstream)
            } else {
                upstream.abandon()
            }
        }
        logExchange(exchange, status: exchange.responseHead?.status.code ?? 0, error: nil)
        self.exchange = nil
        endResponse(trailers, keepAlive: keepAlive, context: context)
    }

    /// Ends a response, and the connection too when the app asked for that or half-closed before it;
    /// else the next held request goes on.
    private func endResponse(_ trailers: HTTPHeaders?, keepAlive: Bool, context: ChannelHandlerContext) {
        guard !keepAlive || closeWhenIdle else {
            context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
            return releaseHeld(context: context)
        }
        closing = true
        held.removeAll()
        context.writeAndFlush(wrapOutboundOut(.end(trailers))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    // MARK: - Responses Mesher makes itself

    private func respondWithError(_ exchange: Exchange, error: String) {
        exchange.generatedError = error
        exchange.queued = []
        if exchange.requestEnded { finishGenerated(exchange, error: error) }
        readIfPending()
    }

    /// 503 when the service has no instance, 502/504 when the upstream could not be reached.
    private func finishGenerated(_ exchange: Exchange, error: String) {
        guard let context else { return }
        let status: HTTPResponseStatus =
            switch error {
            case "no-healthy-instance": .serviceUnavailable
            case "no-route": .badRequest
            case "loop-detected": .loopDetected
            case "connect-timeout": .gatewayTimeout
            default: .badGateway
            }
        let body = "mesher: \(error)\(exchange.route.serviceName.map { " (service \($0))" } ?? "")\n"
        var headers = HTTPHeaders([
            ("content-type", "text/plain; charset=utf-8"), ("content-length", "\(body.utf8.count)"),
            ("x-mesher-error", error),
        ])
        if !exchange.head.isKeepAlive { headers.add(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: exchange.head.version, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        session.environment.logger.warning(
            "request not forwarded",
            metadata: ["error": "\(error)", "host": "\(exchange.head.authority ?? "-")", "status": "\(status.code)"])
        logExchange(exchange, status: status.code, error: error)
        self.exchange = nil
        endResponse(nil, keepAlive: exchange.head.isKeepAlive, context: context)
    }

    static func errorName(_ outcome: RelayOutcome) -> String {
        switch outcome {
        case .connectTimeout: "connect-timeout"
        case .connectRefused: "connect-refused"
        default: "connect-failed"
        }
    }

    private func logExchange(_ exchange: Exchange, status: UInt, error: String?) {
        session.requests += 1
        guard let accessLog = session.environment.accessLog else { return }
        let elapsed = Double((NIODeadline.now() - exchange.started).nanoseconds) / 1e9
        let line = RequestSummary(
            startTime: Date().timeIntervalSince1970 - elapsed,
            source: session.downstream.remoteAddress.map(RelaySession.format) ?? "-",
            direction: session.direction.rawValue, method: exchange.head.method.rawValue,
            authority: exchange.head.authority ?? "-", path: exchange.head.uri,
            service: exchange.route.serviceName,
            upstream: exchange.route.address.map(RelaySession.format) ?? "-", status: status,
            bytesDown: exchange.responseBytes,
            durationMilliseconds: elapsed * 1e3, error: error)
        accessLog.write(line: line.json)
    }
}
