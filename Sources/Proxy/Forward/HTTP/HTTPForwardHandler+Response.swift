import HTTP1
import MesherBase
import NIOCore
import Routing

extension HTTPForwardHandler: UpstreamResponseReceiver {
    func upstreamInterim(_ head: HTTP1Head) {
        // 1xx never goes to an HTTP/1.0 client (RFC 9110 §15.2).
        guard let exchange, exchange.request.version == .http11 else { return }
        write(HTTPMessages.interimResponse(head))
    }

    func upstreamResponseHead(_ head: HTTP1Head, framing: HTTP1Head.Framing) {
        guard let exchange, context != nil else { return }
        exchange.tryDeadline?.cancel()
        exchange.tryDeadline = nil
        if let lease = exchange.route.lease {
            let event = lease.answered(status: head.status, now: NIODeadline.now().uptimeNanoseconds)
            RequestRetry.report(event, of: lease, logger: logger, metrics: forward.metrics)
            if let condition = exchange.retry?.retries(status: head.status, from: exchange.route),
                retry(exchange, condition)
            {
                return
            }
        }
        let version = exchange.request.version
        let downstream = HTTPMessages.downstreamFraming(upstream: framing, response: head, client: version)
        let keepAlive = machine.keepsAlive(
            requestKeepAlive: exchange.request.keepAlive, delimited: downstream != .untilClose,
            inputPending: input != nil)
        exchange.response = .started(status: head.status, framing: downstream, close: !keepAlive)
        exchange.cancelTimers()
        write(HTTPMessages.downstreamResponse(head, framing: downstream, keepAlive: keepAlive, client: version))
    }

    func upstreamResponseBody(_ data: ByteBuffer) {
        guard let exchange, let context else { return }
        exchange.responseBytes += data.readableBytes
        guard case .started(_, let framing, _) = exchange.response else { return }
        switch framing {
        case .chunked:
            write(HTTP1Chunk.header(size: data.readableBytes, allocator: context.channel.allocator))
            write(data)
            write(HTTP1Chunk.dataEnd)
        case .contentLength, .untilClose:
            write(data)
        case .none:
            break
        }
        if !context.channel.isWritable { exchange.upstream?.pauseReading() }
    }

    func upstreamResponseEnd(trailers: ByteBuffer?, reusable: Bool) {
        guard let exchange else { return }
        var (status, close) = (0, false)
        if case .started(let started, let framing, let closes) = exchange.response {
            (status, close) = (started, closes)
            if framing == .chunked { write(HTTP1Chunk.last(trailers: trailers)) }
        }
        if let upstream = exchange.upstream {
            exchange.upstream = nil
            upstream.finished(reusable: reusable && machine.requestEnded && exchange.kind == .plain, pool: pool)
        }
        logExchange(exchange, status: status, error: nil)
        self.exchange = nil
        endResponse(close: close)
    }

    func upstreamSwitched(_ head: HTTP1Head, leftover: ByteBuffer?) {
        // Only an HTTP/1.1 connection switches (no upgrade goes out on an HTTP/2 stream).
        guard let exchange, let upstream = exchange.upstream as? UpstreamHTTPHandler else { return }
        let expected = head.status == 101 ? exchange.kind == .upgrade : exchange.kind == .connect
        // A 101 nobody asked for, or one while the request body is still coming: the two sides would no
        // longer agree on what the bytes are.
        guard expected && machine.requestEnded else {
            exchange.upstream = nil
            upstream.abandon()
            return answer(exchange, .upstreamProtocolError)
        }
        exchange.cancelTimers()
        exchange.route.lease?.answered(status: head.status, now: NIODeadline.now().uptimeNanoseconds)
        exchange.response = .started(status: head.status, framing: .none(announcedLength: nil), close: false)
        write(head.status == 101 ? HTTPMessages.interimResponse(head) : HTTPMessages.tunnelResponse(head))
        if let leftover { write(leftover) }
        logExchange(exchange, status: head.status, error: nil)
        self.exchange = nil
        startTunnel(upstream: upstream)
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamWritable() {
        readIfPending()
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        guard let exchange else { return }
        exchange.upstream = nil
        if exchange.responseStatus != nil {
            // Part of the response is already with the client: the only honest thing left is to cut it off.
            logExchange(exchange, status: exchange.responseStatus ?? 0, error: .upstreamReset)
            self.exchange = nil
            return resetConnection()
        }
        switch failure {
        case .reset(afterResponseBytes: false) where exchange.attempt == .pooled && exchange.replay != nil:
            // A pooled connection the upstream had closed meanwhile (the keep-alive race): the request got no
            // answer at all, so an idempotent one whose body is kept is tried once more on a new connection.
            exchange.attempt = .retry
            exchange.queued = exchange.replay ?? []
            connect(exchange, fresh: true)
        case .reset(afterResponseBytes: false) where retry(exchange, .reset):
            break
        case .reset:
            chargeFailure(exchange)
            answer(exchange, .upstreamReset)
        case .protocolError(let error):
            chargeFailure(exchange)
            connection.warnings.log(
                .badResponse, "bad HTTP response from upstream",
                metadata: [
                    "upstream": "\(exchange.route.address?.logText ?? "-")",
                    "error": "\(error.map(\.name) ?? "unsolicited")",
                ], to: logger)
            answer(exchange, .upstreamProtocolError)
        }
    }

    /// Sends the request to another instance when it can go again: idempotent with its body kept (within
    /// `retries.bodyLimit`), nothing of a response forwarded yet, and the policy, its tries and its budget allow
    /// (`RequestRetry`). What the failed instance sent is dropped with its connection; what of the body has not
    /// arrived yet follows the replay.
    func retry(_ exchange: HTTPExchange, _ condition: RetryCondition) -> Bool {
        guard let replay = exchange.replay, exchange.responseStatus == nil,
            let next = exchange.retry?.next(after: exchange.route, condition)
        else { return false }
        exchange.upstream?.abandon()
        exchange.upstream = nil
        exchange.queued = replay
        resend(exchange, to: next)
        return true
    }

    /// The instance broke the exchange before answering (or did not answer in time): a failure towards its
    /// ejection.
    func chargeFailure(_ exchange: HTTPExchange) {
        guard let lease = exchange.route.lease else { return }
        RequestRetry.report(
            lease.failed(now: NIODeadline.now().uptimeNanoseconds), of: lease, logger: logger, metrics: forward.metrics)
    }
}
