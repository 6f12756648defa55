import HTTP1
import NIOCore
import Testing

/// Decodes `text` fed in pieces of `step` bytes: the body, the trailers, or the error.
func decode(_ framing: HTTP1Head.Framing, _ text: String, step: Int = 1000, eof: Bool = false) -> Result<
    (String, String?, Int), HTTP1ParseError
> {
    var decoder = HTTP1BodyDecoder(framing: framing, limits: testLimits)
    var buffer = ByteBuffer()
    var body = ""
    let bytes = Array(text.utf8)
    var offset = 0
    while true {
        switch decoder.next(&buffer) {
        case .data(let data): body += String(buffer: data)
        case .end(let trailers):
            return .success((body, trailers.map { String(buffer: $0) }, buffer.readableBytes + bytes.count - offset))
        case .invalid(let error): return .failure(error)
        case .needMore:
            guard offset < bytes.count else {
                if eof, case .end(let trailers) = decoder.endOfInput() {
                    return .success((body, trailers.map { String(buffer: $0) }, 0))
                }
                return .failure(.invalidChunk)
            }
            let end = min(bytes.count, offset + step)
            buffer.writeBytes(bytes[offset..<end])
            offset = end
        }
    }
}

@Suite struct BodyDecoderTests {
    @Test func contentLengthStopsAtTheLength() throws {
        let (body, _, rest) = try decode(.contentLength(5), "helloGET / HTTP/1.1").get()
        #expect(body == "hello")
        #expect(rest == 14)
    }

    @Test(arguments: [1, 3, 1000])
    func chunked(step: Int) throws {
        let (body, trailers, rest) = try decode(
            .chunked, "5;name=\"v;x\"\r\nhello\r\n000A\r\n0123456789\r\n0\r\nX-Sum: 1\r\nContent-Length: 9\r\n\r\nNEXT",
            step: step
        ).get()
        #expect(body == "hello0123456789")
        // Framing fields never survive as trailers.
        #expect(trailers == "X-Sum: 1\r\n")
        #expect(rest == 4)
    }

    @Test(arguments: [
        "-5\r\nhello\r\n0\r\n\r\n", "0x5\r\nhello\r\n0\r\n\r\n", " 5\r\nhello\r\n0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n", "5\r\nhelloX\r\n0\r\n\r\n", "5\r\nhello\n0\r\n\r\n",
        "5 ; a\rb\r\nhello\r\n0\r\n\r\n", "5;\u{1}\r\nhello\r\n0\r\n\r\n", "5 x\r\nhello\r\n0\r\n\r\n",
        "1000000000000000\r\n", "\r\n", "0\r\nX: a\nb\r\n\r\n", "0\r\n X: folded\r\n\r\n",
    ])
    func badChunks(text: String) {
        if case .success = decode(.chunked, text) { Issue.record("accepted \(text.debugDescription)") }
    }

    @Test func untilCloseEndsAtEndOfInput() throws {
        let (body, _, _) = try decode(.untilClose, "all of it", step: 4, eof: true).get()
        #expect(body == "all of it")
    }

    @Test func truncatedChunkedBodyIsAnError() {
        #expect(throws: HTTP1ParseError.self) { try decode(.chunked, "5\r\nhel", eof: true).get() }
    }
}
