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
        }
    }

    /// Every reason but the parse errors (each counted under its own name once seen), for metrics that start
    /// at zero.
    static let unparsedReasons: [String] = [
        MesherAnswer.headerTimeout, .requestTimeout, .noHealthyInstance, .overflow, .noRoute, .loopDetected,
        .forbiddenDestination, .connectTimeout, .connectRefused, .connectFailed, .nameNotResolved, .upstreamReset,
        .upstreamProtocolError,
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

    /// The whole response: a one-line text body saying why (and which service), framed by its length.
    func response(service: String?, keepAlive: Bool, version: HTTP1Version) -> ByteBuffer {
        let body = "mesher: \(errorName)\(service.map { " (service \($0))" } ?? "")\n"
        let (code, reason) = status
        var out = ByteBuffer()
        out.writeString("HTTP/1.1 \(code) ")
        out.writeStaticString(reason)
        out.writeString(
            "\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: \(body.utf8.count)\r\nx-mesher-error: \(errorName)\r\n"
        )
        out.writeStaticString(HTTPConnectionField.value(keepAlive: keepAlive, version: version))
        out.writeStaticString("\r\n")
        out.writeString(body)
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
