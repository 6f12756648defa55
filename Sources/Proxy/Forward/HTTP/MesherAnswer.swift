import HTTP1
import NIOCore

/// A response Mesher makes itself instead of forwarding one: why, with its status and the value of
/// `x-mesher-error`, the same words in the access log.
enum MesherAnswer: Equatable {
    /// The request is malformed or ambiguous (the parser says which way).
    case badRequest(HTTP1ParseError)
    /// The request head did not arrive within `http.headerTimeout`.
    case headerTimeout
    /// No response head within the service's `requestTimeout` (retries included).
    case requestTimeout
    case noHealthyInstance
    /// The service has its `maxRequests` in flight.
    case overflow
    /// Nowhere to send it (explicit proxy request without a usable host).
    case noRoute
    case loopDetected
    /// A destination that is one of Mesher's own ports.
    case forbiddenDestination
    case connectTimeout
    case connectRefused
    case connectFailed
    case nameNotResolved
    case upstreamReset
    /// The upstream's response was malformed or did not fit the request.
    case upstreamProtocolError
    /// A route's or the inbound side's `rateLimit` has no token now; one comes after this long.
    case rateLimited(retryAfterNanoseconds: Int64)
    /// A route's `fault.abort`.
    case faultAbort(status: Int)
    /// A route's `directResponse`: the answer the operator wrote, not an error.
    case direct(status: Int, body: String)

    var status: (code: Int, reason: StaticString) {
        switch self {
        case .badRequest(.unsupportedVersion): (505, "HTTP Version Not Supported")
        case .badRequest, .noRoute: (400, "Bad Request")
        case .headerTimeout: (408, "Request Timeout")
        case .requestTimeout: (504, "Gateway Timeout")
        case .forbiddenDestination: (403, "Forbidden")
        case .noHealthyInstance, .overflow: (503, "Service Unavailable")
        case .loopDetected: (508, "Loop Detected")
        case .connectTimeout: (504, "Gateway Timeout")
        case .connectRefused, .connectFailed, .nameNotResolved, .upstreamReset, .upstreamProtocolError:
            (502, "Bad Gateway")
        case .rateLimited: (429, "Too Many Requests")
        case .faultAbort(let code), .direct(let code, _): (code, Self.reason(code))
        }
    }

    /// The usual reason phrase of a status a route configures (clients ignore it, people read it).
    static func reason(_ code: Int) -> StaticString {
        switch code {
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status"
        }
    }

    /// Every reason but the parse errors (each counted under its own name once seen), for metrics that start
    /// at zero.
    static let unparsedReasons: [String] = [
        MesherAnswer.headerTimeout, .requestTimeout, .noHealthyInstance, .overflow, .noRoute, .loopDetected,
        .forbiddenDestination, .connectTimeout, .connectRefused, .connectFailed, .nameNotResolved, .upstreamReset,
        .upstreamProtocolError, .rateLimited(retryAfterNanoseconds: 0), .faultAbort(status: 503),
        .direct(status: 200, body: ""),
    ].map(\.errorName)

    var errorName: String {
        switch self {
        case .badRequest(let error): error.name
        case .headerTimeout: "header-timeout"
        case .requestTimeout: "request-timeout"
        case .noHealthyInstance: "no-healthy-instance"
        case .overflow: "overflow"
        case .noRoute: "no-route"
        case .loopDetected: "loop-detected"
        case .forbiddenDestination: "forbidden-destination"
        case .connectTimeout: "connect-timeout"
        case .connectRefused: "connect-refused"
        case .connectFailed: "connect-failed"
        case .nameNotResolved: "name-not-resolved"
        case .upstreamReset: "upstream-reset"
        case .upstreamProtocolError: "upstream-protocol-error"
        case .rateLimited: "rate-limited"
        case .faultAbort: "fault-abort"
        case .direct: "direct-response"
        }
    }

    init(connectFailure outcome: ConnectionOutcome) {
        switch outcome {
        case .connectTimeout: self = .connectTimeout
        case .connectRefused: self = .connectRefused
        case .loop: self = .forbiddenDestination
        default: self = .connectFailed
        }
    }

    /// The body: a line saying why (and which service), or the operator's text for a direct response.
    func text(service: String?) -> String {
        if case .direct(_, let text) = self { return text }
        return "mesher: \(errorName)\(service.map { " (service \($0))" } ?? "")\n"
    }

    /// `x-mesher-error` (not on a direct response, which is no error) and `retry-after` for a rate limit, in
    /// whole seconds, at least one (RFC 9110 §10.2.3).
    var extraFields: [(name: String, value: String)] {
        switch self {
        case .direct: return []
        case .rateLimited(let nanoseconds):
            let seconds = max(1, (nanoseconds + 999_999_999) / 1_000_000_000)
            return [("x-mesher-error", errorName), ("retry-after", String(seconds))]
        default: return [("x-mesher-error", errorName)]
        }
    }

    /// The whole HTTP/1 response, framed by its length.
    /// `headOnly`: the answer to a HEAD request, its length announced but no body sent.
    func response(service: String?, keepAlive: Bool, version: HTTP1Version, headOnly: Bool = false) -> ByteBuffer {
        let body = text(service: service)
        let (code, reason) = status
        let bodyless = code == 204 || code == 304
        var out = ByteBuffer()
        out.writeString("HTTP/1.1 \(code) ")
        out.writeStaticString(reason)
        out.writeStaticString("\r\n")
        if !bodyless {
            out.writeString("content-type: text/plain; charset=utf-8\r\ncontent-length: \(body.utf8.count)\r\n")
        }
        for (name, value) in extraFields { out.writeString("\(name): \(value)\r\n") }
        out.writeStaticString(HTTPConnectionField.value(keepAlive: keepAlive, version: version))
        out.writeStaticString("\r\n")
        if !bodyless && !headOnly { out.writeString(body) }
        return out
    }
}

/// The `Connection` field of a response to the client: `close` when Mesher closes after it, and
/// `keep-alive` for an HTTP/1.0 client that keeps the connection (it needs to be told).
enum HTTPConnectionField {
    static func value(keepAlive: Bool, version: HTTP1Version) -> StaticString {
        if !keepAlive { return "connection: close\r\n" }
        return version == .http10 ? "connection: keep-alive\r\n" : ""
    }
}
