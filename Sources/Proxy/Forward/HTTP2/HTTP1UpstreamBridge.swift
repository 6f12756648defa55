import HTTP1
import NIOCore
import NIOHPACK

/// An HTTP/2 call to an instance registered as `protocol: http1`: the request goes as HTTP/1.1 on a pooled
/// keep-alive connection (chunked when its length is unknown), the response comes back as the stream's
/// headers, data and trailers.
final class HTTP1UpstreamBridge: HTTP2CallUpstream, UpstreamResponseReceiver {
    private weak var receiver: (any HTTP2UpstreamReceiver)?
    private let pool: UpstreamPool
    private var handler: UpstreamHTTPHandler?
    private var chunked = false
    private var requestEnded = false
    private var responseEnded = false
    private(set) var started = false

    init(receiver: any HTTP2UpstreamReceiver, pool: UpstreamPool) {
        self.receiver = receiver
        self.pool = pool
    }

    /// The pooled connection the request goes on.
    func attach(_ handler: UpstreamHTTPHandler) {
        self.handler = handler
        handler.receiver = self
    }

    var isWritable: Bool { handler?.isWritable ?? false }

    func start(_ call: HTTP2Call, queued: [HTTP2Call.Part]) {
        chunked = call.request.isChunked
        handler?.sendHead(call.upstreamHTTP1Head, kind: .init(isHEAD: call.request.method == "HEAD"))
        started = true
        for part in queued { send(part) }
        flush()
    }

    func send(_ part: HTTP2Call.Part) {
        guard let handler else { return }
        switch part {
        case .data(let data): handler.sendBody(data, chunked: chunked)
        case .trailers(let trailers):
            requestEnded = true
            handler.sendEnd(trailers: chunked ? Self.trailerLines(trailers) : nil, chunked: chunked)
        case .end:
            requestEnded = true
            handler.sendEnd(trailers: nil, chunked: chunked)
        }
    }

    func flush() { handler?.flush() }

    /// The stream is gone: a request that went out whole lets its connection finish the response for the pool
    /// (a reset stream costs no connection); one cut short leaves the connection out of step, so it closes.
    func cancel() {
        receiver = nil
        guard let handler else { return }
        self.handler = nil
        if started && requestEnded && !responseEnded {
            ResponseDiscard.start(handler, pool: pool)
        } else {
            handler.abandon()
        }
    }

    func pauseReading() { handler?.pauseReading() }
    func resumeReading() { handler?.resumeReading() }

    // MARK: - The response

    func upstreamInterim(_ head: HTTP1Head) {}

    func upstreamResponseHead(_ head: HTTP1Head, framing: HTTP1Head.Framing) {
        var headers = HPACKHeaders()
        headers.add(name: ":status", value: String(head.status))
        for field in head.fields where !field.kind.isHopByHop && field.kind != .contentLength {
            headers.add(name: head.string(field.name).lowercased(), value: head.string(field.value))
        }
        if case .contentLength(let length) = framing { headers.add(name: "content-length", value: String(length)) }
        if case .none = framing { responseEnded = true }
        receiver?.upstreamHeaders(headers, endStream: responseEnded)
    }

    func upstreamResponseBody(_ data: ByteBuffer) {
        receiver?.upstreamData(data, endStream: false)
    }

    func upstreamResponseEnd(trailers: ByteBuffer?, reusable: Bool) {
        if let handler {
            self.handler = nil
            if reusable && requestEnded { pool.release(handler) } else { handler.abandon() }
        }
        guard !responseEnded else { return }
        responseEnded = true
        if let trailers, let fields = Self.trailerFields(trailers) {
            receiver?.upstreamHeaders(fields, endStream: true)
        } else {
            receiver?.upstreamData(ByteBuffer(), endStream: true)
        }
    }

    func upstreamSwitched(_ head: HTTP1Head, leftover: ByteBuffer?) {
        // Never asked for (no upgrade goes out from an HTTP/2 stream): the exchange is broken.
        handler?.abandon()
        handler = nil
        receiver?.upstreamFailed(.reset)
    }

    func upstreamReadComplete() { receiver?.upstreamReadComplete() }
    func upstreamWritable() { receiver?.upstreamWritable() }

    func upstreamFailed(_ failure: UpstreamFailure) {
        handler = nil
        receiver?.upstreamFailed(.reset)
    }

    /// HTTP/2 trailers as HTTP/1 trailer lines.
    /// A trailer HTTP/1 could not carry as it is (HTTP/2 allows control characters in a value) is left out:
    /// never a line an HTTP/1 reader parses otherwise (found by FuzzHTTP2Forward: a value of 0x05).
    static func trailerLines(_ trailers: HPACKHeaders) -> ByteBuffer {
        var out = ByteBuffer()
        for (name, value, _) in trailers where !name.hasPrefix(":") {
            guard !name.isEmpty, name.utf8.allSatisfy({ HTTP1Syntax.token[Int($0)] }),
                value.utf8.allSatisfy({ HTTP1Syntax.fieldValue[Int($0)] })
            else { continue }
            out.writeString("\(name): \(value)\r\n")
        }
        return out
    }

    /// HTTP/1 trailer lines (already checked by the body decoder) as HTTP/2 trailers.
    static func trailerFields(_ lines: ByteBuffer) -> HPACKHeaders? {
        var fields = HPACKHeaders()
        for line in String(buffer: lines).split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: [" ", "\t"])
            fields.add(name: line[..<colon].lowercased(), value: String(value))
        }
        return fields.isEmpty ? nil : fields
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> Substring {
        var text = self
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return text
    }
}
