import HTTP1
import NIOCore
import NIOHPACK
import NIOHTTP2

/// An HTTP/1 exchange to an instance registered as `protocol: h2c`: the request goes as a stream on one of
/// this loop's multiplexed HTTP/2 connections (many client connections share a few upstream ones), and the
/// response comes back to the exchange as HTTP/1: its head parsed by Mesher's strict parser, its body delimited
/// by its length or chunked, its trailers as trailer lines.
final class HTTP2UpstreamBridge: ExchangeUpstream, HTTP2UpstreamReceiver {
    weak var receiver: (any UpstreamResponseReceiver)?
    private var stream: HTTP2UpstreamStream?
    private let limits: HTTP1HeadParser.Limits
    /// Called once, then dropped: it holds the exchange, which holds this bridge until it ends.
    private var onConnect: ((Result<any ExchangeUpstream, any Error>) -> Void)?
    /// The request's headers, held until its first body part or its end (a request without a body ends with
    /// them).
    private var headers: HPACKHeaders?
    private var isHEAD = false
    private var responseStarted = false

    init(
        connection: HTTP2UpstreamConnection, limits: HTTP1HeadParser.Limits,
        onConnect: @escaping (Result<any ExchangeUpstream, any Error>) -> Void
    ) {
        self.limits = limits
        self.onConnect = onConnect
        let stream = HTTP2UpstreamStream(receiver: self, connection: connection)
        self.stream = stream
        connection.open(stream)
    }

    var isWritable: Bool { stream?.isWritable ?? false }

    // MARK: - The request

    func sendHead(_ head: ByteBuffer, kind: UpstreamHTTPHandler.RequestKind) {
        isHEAD = kind.isHEAD
        guard let fields = HTTP2Messages.upstreamHeaders(head, scheme: "http", trailers: false, limits: limits) else {
            return failed(.protocolError(nil))
        }
        headers = fields
    }

    func sendBody(_ data: ByteBuffer, chunked: Bool) {
        guard data.readableBytes > 0 else { return }
        sendHeaders(endStream: false)
        stream?.send(.data(.init(data: .byteBuffer(data))))
    }

    func sendEnd(trailers: ByteBuffer?, chunked: Bool) {
        if headers != nil && trailers == nil { return sendHeaders(endStream: true) }
        sendHeaders(endStream: false)
        if let trailers, let fields = HTTP1UpstreamBridge.trailerFields(trailers) {
            stream?.send(.headers(.init(headers: fields, endStream: true)))
        } else {
            stream?.send(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)))
        }
    }

    private func sendHeaders(endStream: Bool) {
        guard let headers else { return }
        self.headers = nil
        stream?.send(.headers(.init(headers: headers, endStream: endStream)))
    }

    func flush() {
        sendHeaders(endStream: false)
        stream?.flush()
    }

    func abandon() {
        receiver = nil
        onConnect = nil
        stream?.cancel()
        stream = nil
    }

    /// A stream is never reused: it ended with its response (or is reset if the request had not).
    func finished(reusable: Bool, pool: UpstreamPool) { abandon() }

    func pauseReading() { stream?.pauseReading() }
    func resumeReading() { stream?.resumeReading() }

    // MARK: - The stream

    func upstreamConnected() { connected(.success(self)) }

    func upstreamConnectFailed(_ error: any Error) {
        stream = nil
        connected(.failure(error))
    }

    private func connected(_ result: Result<any ExchangeUpstream, any Error>) {
        let onConnect = onConnect
        self.onConnect = nil
        onConnect?(result)
    }

    func upstreamHeaders(_ fields: HPACKHeaders, endStream: Bool) {
        if responseStarted {
            receiver?.upstreamResponseEnd(trailers: HTTP1UpstreamBridge.trailerLines(fields), reusable: false)
            return
        }
        guard let head = Self.responseHead(fields, limits: limits) else { return failed(.protocolError(nil)) }
        if head.status < 200 { return receiver?.upstreamInterim(head) ?? () }
        responseStarted = true
        var framing = head.responseFraming(toHEAD: isHEAD, toCONNECT: false)
        // HTTP/2 ends a body with the stream: HTTP/1 needs a length or chunks.
        if framing == .untilClose { framing = endStream ? .contentLength(0) : .chunked }
        receiver?.upstreamResponseHead(head, framing: framing)
        if endStream { receiver?.upstreamResponseEnd(trailers: nil, reusable: false) }
    }

    func upstreamData(_ data: ByteBuffer, endStream: Bool) {
        if data.readableBytes > 0 { receiver?.upstreamResponseBody(data) }
        if endStream { receiver?.upstreamResponseEnd(trailers: nil, reusable: false) }
    }

    func upstreamReadComplete() { receiver?.upstreamReadComplete() }
    func upstreamWritable() { receiver?.upstreamWritable() }

    func upstreamFailed(_ failure: HTTP2UpstreamStream.Failure) {
        stream = nil
        failed(.reset(afterResponseBytes: responseStarted))
    }

    private func failed(_ failure: UpstreamFailure) {
        let receiver = receiver
        abandon()
        receiver?.upstreamFailed(failure)
    }

    private static func breaksALine(_ byte: UInt8) -> Bool { byte == 0x0D || byte == 0x0A || byte == 0 }

    /// The response's fields as an HTTP/1.1 head, read back by the strict parser (nio-http2 has checked the
    /// names and values; the parser holds them to what an HTTP/1 client may be sent).
    static func responseHead(_ fields: HPACKHeaders, limits: HTTP1HeadParser.Limits) -> HTTP1Head? {
        guard let status = fields.first(name: ":status"), status.utf8.count == 3 else { return nil }
        var text = ByteBuffer()
        text.writeString("HTTP/1.1 \(status) \r\n")
        var count = 0
        for (name, value, _) in fields where !name.hasPrefix(":") {
            // A line break would make another field (or end the head) on HTTP/1: never written, whoever checked.
            guard !name.utf8.contains(where: Self.breaksALine), !value.utf8.contains(where: Self.breaksALine)
            else { return nil }
            text.writeString("\(name): \(value)\r\n")
            count += 1
        }
        text.writeStaticString("\r\n")
        var parser = HTTP1HeadParser(role: .response, limits: limits)
        guard case .head(let head) = parser.parse(&text), text.readableBytes == 0, head.fields.count == count else {
            return nil
        }
        return head
    }
}
