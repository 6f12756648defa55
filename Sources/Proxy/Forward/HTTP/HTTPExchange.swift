import HTTP1
import NIOCore
import Routing

/// One request on a downstream connection, from its head to the end of its response.
final class HTTPExchange {
    enum Kind {
        case plain
        /// `Connection: upgrade`: a 101 turns the connection into a byte relay.
        case upgrade
        /// CONNECT to a captured destination (itself a proxy): a 2xx turns it into a byte relay.
        case connect
    }

    enum Response {
        case pending
        /// `close`: the connection closes after this response.
        case started(status: Int, framing: HTTPMessages.DownstreamFraming, close: Bool)
    }

    /// Request body parts that wait for the upstream connection.
    enum Queued {
        case body(ByteBuffer)
        case end(trailers: ByteBuffer?)
    }

    /// Which connection the request goes out on.
    enum Attempt {
        /// A new connection.
        case fresh
        /// A pooled connection, which the upstream may have closed meanwhile.
        case pooled
        /// Sent again on a new connection after a pooled one turned out closed (at most once).
        case retry
    }

    let request: HTTP1Head
    /// Where it goes; another instance after a failed connect (`retry`).
    var route: Routed
    /// A service's request whose connect fails is sent to another instance (set once an instance is leased).
    var retry: RequestRetry?
    /// When the service's `requestTimeout` runs out, until the response head comes (the connection's one
    /// timer checks it: no timer is scheduled per request).
    var deadline: NIODeadline?
    /// The service's `retries.perTryTimeout`, for the try under way.
    var tryDeadline: Scheduled<Void>?

    /// Both timers stop: the response head came, or Mesher answered.
    func cancelTimers() {
        deadline = nil
        tryDeadline?.cancel()
        tryDeadline = nil
    }
    let kind: Kind
    let started = NIODeadline.now()
    /// The route rule that matched, "service#index".
    var ruleName: String?
    /// This hop's span of the request's trace.
    var trace: HopTrace?
    /// The head as it goes upstream, sent again on a retry.
    var upstreamHead = ByteBuffer()
    var queued: [Queued] = []
    var upstream: (any ExchangeUpstream)?
    var attempt = Attempt.fresh
    /// Request body bytes read from the client.
    var requestBytes = 0
    /// Set when Mesher answers itself; the rest of the request is read and dropped.
    var answer: MesherAnswer?
    /// Whether the final response head went to the client, and how its body goes.
    var response = Response.pending
    /// Response body bytes sent to the client.
    var responseBytes = 0

    /// Whether the request may be sent again: idempotent, and its body no larger than `retryBodyLimit`.
    private(set) var replayable: Bool
    /// Its body parts so far, and its end once read (no array for a request without a body).
    private var replayBody: [ByteBuffer] = []
    private var replayEnd: Queued?
    private var replayBytes = 0
    private let retryBodyLimit: Int

    /// The request as read so far, to send again; `nil` when it may not be.
    var replay: [Queued]? {
        guard replayable else { return nil }
        return replayBody.map { .body($0) } + (replayEnd.map { [$0] } ?? [])
    }

    init(request: HTTP1Head, route: Routed, kind: Kind, retryBodyLimit: Int) {
        self.request = request
        self.route = route
        self.kind = kind
        self.retryBodyLimit = retryBodyLimit
        replayable = false
        // A body announced larger than the limit is streamed only, whenever the failure would come.
        replayable = isIdempotent && (request.contentLength ?? 0) <= retryBodyLimit
    }

    /// A part of the request read from the client, kept for a retry while the body is within the limit.
    func keepForRetry(_ part: Queued) {
        guard replayable else { return }
        switch part {
        case .body(let data):
            replayBytes += data.readableBytes
            guard replayBytes <= retryBodyLimit else {
                replayable = false
                replayBody = []
                return
            }
            replayBody.append(data)
        case .end:
            replayEnd = part
        }
    }

    var isChunked: Bool { request.isChunked }

    /// The final response's status, once its head went to the client.
    var responseStatus: Int? {
        if case .started(let status, _, _) = response { return status }
        return nil
    }

    var upstreamKind: UpstreamHTTPHandler.RequestKind {
        .init(isHEAD: request.isMethod("HEAD"), isCONNECT: kind == .connect)
    }

    /// Safe to send again after a pooled connection turned out closed (RFC 9110 §9.2.2).
    var isIdempotent: Bool { kind == .plain && request.hasIdempotentMethod }
}

extension HTTP1Head {
    /// A method RFC 9110 §9.2.2 calls idempotent: a request with it may be sent again.
    var hasIdempotentMethod: Bool {
        isMethod("GET") || isMethod("HEAD") || isMethod("OPTIONS") || isMethod("PUT") || isMethod("DELETE")
            || isMethod("TRACE")
    }
}
