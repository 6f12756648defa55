import HTTP1
import MesherBase
import NIOCore

/// The heads Mesher writes. Framing is always Mesher's own: the length or chunking it read is written
/// again, explicitly, whatever the method, so the next hop reads the same message boundaries; the framing
/// fields that came in are never copied, nor are hop-by-hop fields and those `Connection` names.
enum HTTPMessages {
    /// How a response body goes to the client.
    enum DownstreamFraming: Equatable {
        /// No body; a HEAD or 304 response still shows the length the upstream announced.
        case none(announcedLength: Int?)
        case contentLength(Int)
        case chunked
        /// Delimited by closing the connection (an HTTP/1.0 client and a body of unknown length).
        case untilClose
    }

    static func downstreamFraming(upstream: HTTP1Head.Framing, response: HTTP1Head, client: HTTP1Version)
        -> DownstreamFraming
    {
        switch upstream {
        case .none: .none(announcedLength: response.status == 204 ? nil : response.contentLength)
        case .contentLength(let length): .contentLength(length)
        case .chunked, .untilClose: client == .http11 ? .chunked : .untilClose
        }
    }

    /// The request as sent upstream: HTTP/1.1, origin-form target, the authority as Host, framing from what
    /// was parsed, Mesher's hop count.
    static func upstreamRequest(
        _ request: HTTP1Head, authority: String?, hops: Int, forwardedFor: String?, upgrade: Bool,
        trace: HopTrace? = nil, edits: RequestEdits? = nil
    ) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(request.bytes.readableBytes + 64)
        guard case .request(let method, let target) = request.startLine else { return out }
        request.write(method, to: &out)
        out.writeStaticString(" ")
        switch request.targetForm {
        case _ where edits?.target != nil:
            out.writeString(edits?.target ?? "/")
        case .origin, .authority, .asterisk:
            request.write(target, to: &out)
        case .absolute(_, let path):
            if path.isEmpty || request.withBytes(path, { $0.first == UInt8(ascii: "?") }) {
                out.writeStaticString("/")
            }
            request.write(path, to: &out)
        }
        out.writeStaticString(" HTTP/1.1\r\n")
        if let authority { writeField("host", authority, to: &out) }
        let replacesForwardedFor = forwardedFor != nil
        let replacesTrace = trace != nil
        request.writeForwardedFields(to: &out, droppingNames: edits?.droppedFields ?? []) { kind in
            kind == .host || kind == .contentLength || kind == .mesherHop
                || (kind == .forwardedFor && replacesForwardedFor)
                || (replacesTrace && (kind == .traceParent || kind == .traceState || kind == .b3))
        }
        for (name, value) in (edits?.headers.replace ?? []) + (edits?.headers.add ?? []) {
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        writeFraming(request.requestFraming, to: &out)
        if upgrade { writeUpgrade(of: request, to: &out) }
        writeField("x-mesher-hop", String(hops), to: &out)
        if let forwardedFor { writeField("x-forwarded-for", forwardedFor, to: &out) }
        trace?.write(to: &out)
        out.writeStaticString("\r\n")
        return out
    }

    /// A final response head for the client.
    static func downstreamResponse(
        _ response: HTTP1Head, framing: DownstreamFraming, keepAlive: Bool, client: HTTP1Version
    ) -> ByteBuffer {
        var out = statusLineAndFields(response)
        switch framing {
        case .none(let length?), .contentLength(let length): writeField("content-length", String(length), to: &out)
        case .chunked: out.writeStaticString("transfer-encoding: chunked\r\n")
        case .none(nil), .untilClose: break
        }
        out.writeStaticString(HTTPConnectionField.value(keepAlive: keepAlive, version: client))
        out.writeStaticString("\r\n")
        return out
    }

    /// An interim (1xx) response, or a 101 with the protocol it switches to.
    static func interimResponse(_ response: HTTP1Head) -> ByteBuffer {
        var out = statusLineAndFields(response)
        if response.status == 101 { writeUpgrade(of: response, to: &out) }
        out.writeStaticString("\r\n")
        return out
    }

    /// A successful CONNECT: the tunnel starts after the blank line, so no framing at all.
    static func tunnelResponse(_ response: HTTP1Head) -> ByteBuffer {
        var out = statusLineAndFields(response)
        out.writeStaticString("\r\n")
        return out
    }

    private static func statusLineAndFields(_ response: HTTP1Head) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(response.bytes.readableBytes + 48)
        guard case .response(let status, let reason) = response.startLine else { return out }
        out.writeStaticString("HTTP/1.1 ")
        out.writeString(String(status))
        out.writeStaticString(" ")
        response.write(reason, to: &out)
        out.writeStaticString("\r\n")
        response.writeForwardedFields(to: &out) { $0 == .contentLength }
        return out
    }

    /// `name: value CRLF`, without building the line as a String first.
    static func writeField(_ name: StaticString, _ value: String, to out: inout ByteBuffer) {
        out.writeStaticString(name)
        out.writeStaticString(": ")
        out.writeString(value)
        out.writeStaticString("\r\n")
    }

    private static func writeFraming(_ framing: HTTP1Head.Framing, to out: inout ByteBuffer) {
        switch framing {
        case .contentLength(let length): writeField("content-length", String(length), to: &out)
        case .chunked: out.writeStaticString("transfer-encoding: chunked\r\n")
        case .none, .untilClose: break
        }
    }

    /// `Connection: upgrade` and the `Upgrade` values, which are hop-by-hop but are what an upgrade is.
    private static func writeUpgrade(of head: HTTP1Head, to out: inout ByteBuffer) {
        out.writeStaticString("connection: upgrade\r\n")
        for (index, field) in head.fields.enumerated() where field.kind == .upgrade {
            head.writeField(index, to: &out)
        }
    }
}
