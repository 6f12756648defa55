import HTTP1
import NIOCore
import NIOHPACK
import NIOHTTP2

/// HTTP/2 requests read through the same strict parser as HTTP/1, and written upstream from what it read:
/// route rules, hop counts, trace context and header edits see one form of a request whichever version it
/// came in. A field an HTTP/1 head could not carry (a line break in a value, which would be a field of its own
/// there) makes the request malformed rather than something an HTTP/1 hop behind Mesher would read otherwise.
enum HTTP2Messages {
    enum RequestError: Error, Equatable {
        case parse(HTTP1ParseError)
        /// A pseudo-header missing, or one that no request line can carry.
        case pseudoHeader
        /// A value with a control character (CR, LF, NUL).
        case fieldValue
        /// `host` names another authority than `:authority` (RFC 9113 §8.3.1).
        case hostMismatch
        /// CONNECT (and extended CONNECT): not forwarded over HTTP/2.
        case connect
    }

    /// The request head as Mesher's HTTP/1 parser reads it, `:authority` as its Host. `bodyFollows`: DATA
    /// frames come; without a `content-length` the head says chunked, so that an HTTP/1 instance reads the
    /// same body (an HTTP/2 instance gets no framing field, which is hop-by-hop).
    static func requestHead(_ headers: HPACKHeaders, bodyFollows: Bool, limits: HTTP1HeadParser.Limits)
        -> Result<HTTP1Head, RequestError>
    {
        var method: String?
        var path: String?
        var authority: String?
        var host: String?
        var text = ""
        var hasLength = false
        // Cookie crumbs are one field again (RFC 9113 §8.2.3): an HTTP/1 server reads one Cookie field.
        var cookies: [String] = []
        for (name, value, _) in headers {
            guard value.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }) else {
                return .failure(.fieldValue)
            }
            switch name {
            case ":method": method = value
            case ":path": path = value
            case ":authority": authority = value
            case ":scheme", ":protocol": if name == ":protocol" { return .failure(.connect) }
            case "host": host = value
            case "cookie": cookies.append(value)
            case "content-length":
                hasLength = true
                fallthrough
            default:
                text += name
                text += ": "
                text += value
                text += "\r\n"
            }
        }
        guard let method, method != "CONNECT" else { return .failure(method == nil ? .pseudoHeader : .connect) }
        guard let path, !path.isEmpty, !path.utf8.contains(0x20) else { return .failure(.pseudoHeader) }
        if let authority, let host, host != authority { return .failure(.hostMismatch) }
        var head = "\(method) \(path) HTTP/1.1\r\n"
        if let name = authority ?? host { head += "host: \(name)\r\n" }
        if !cookies.isEmpty { text += "cookie: \(cookies.joined(separator: "; "))\r\n" }
        if bodyFollows && !hasLength { text += "transfer-encoding: chunked\r\n" }
        var buffer = ByteBuffer(string: head + text + "\r\n")
        var parser = HTTP1HeadParser(role: .request, limits: limits)
        switch parser.parse(&buffer) {
        case .head(let parsed) where buffer.readableBytes == 0: return .success(parsed)
        case .invalid(let error): return .failure(.parse(error))
        case .head, .needMore: return .failure(.pseudoHeader)
        }
    }

    /// The HTTP/2 request for an upstream, from the HTTP/1 head Mesher would send (`HTTPMessages.upstreamRequest`,
    /// parsed back): its Host as `:authority`, no HTTP/1 connection fields; `te: trailers` when the client
    /// asked for trailers (gRPC servers want it).
    /// `limits`: the client's, which Mesher's edits may take a head past.
    static func upstreamHeaders(_ upstream: ByteBuffer, scheme: String, trailers: Bool, limits: HTTP1HeadParser.Limits)
        -> HPACKHeaders?
    {
        var buffer = upstream
        let room = HTTP1HeadParser.Limits(maxHeadBytes: limits.maxHeadBytes * 2, maxFields: limits.maxFields * 2)
        var parser = HTTP1HeadParser(role: .request, limits: room)
        guard case .head(let head) = parser.parse(&buffer) else { return nil }
        var headers = HPACKHeaders()
        headers.reserveCapacity(head.fields.count + 4)
        headers.add(name: ":method", value: head.method)
        headers.add(name: ":scheme", value: scheme)
        if let host = head.host { headers.add(name: ":authority", value: host) }
        headers.add(name: ":path", value: head.target)
        for field in head.fields where field.kind != .host && !field.kind.isHopByHop {
            headers.add(name: head.string(field.name).lowercased(), value: head.string(field.value))
        }
        if trailers { headers.add(name: "te", value: "trailers") }
        return headers
    }

    /// The frames of an answer Mesher makes itself: to a gRPC client a trailers-only response with the
    /// status and message (its HTTP status is 200, as gRPC requires); to others the status, `x-mesher-error`
    /// and a one-line body.
    static func answer(
        _ answer: MesherAnswer, service: String?, grpc: Bool, headOnly: Bool, allocator: ByteBufferAllocator
    ) -> [HTTP2Frame.FramePayload] {
        let code = answer.status.code
        let text = answer.text(service: service)
        var headers = HPACKHeaders()
        if grpc {
            headers.add(name: ":status", value: "200")
            headers.add(name: "content-type", value: "application/grpc")
            headers.add(name: "grpc-status", value: String(GRPCCall.status(for: answer)))
            headers.add(name: "grpc-message", value: GRPCCall.message(text.trimmingNewline))
            for (name, value) in answer.extraFields { headers.add(name: name, value: value) }
            return [.headers(.init(headers: headers, endStream: true))]
        }
        headers.add(name: ":status", value: String(code))
        for (name, value) in answer.extraFields { headers.add(name: name, value: value) }
        guard code != 204 && code != 304 else { return [.headers(.init(headers: headers, endStream: true))] }
        headers.add(name: "content-type", value: "text/plain; charset=utf-8")
        headers.add(name: "content-length", value: String(text.utf8.count))
        if headOnly { return [.headers(.init(headers: headers, endStream: true))] }
        let body = allocator.buffer(string: text)
        return [.headers(.init(headers: headers)), .data(.init(data: .byteBuffer(body), endStream: true))]
    }
}

extension String {
    fileprivate var trimmingNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
