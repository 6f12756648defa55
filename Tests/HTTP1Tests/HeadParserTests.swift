import HTTP1
import NIOCore
import Testing

let testLimits = HTTP1HeadParser.Limits(maxHeadBytes: 4096, maxFields: 20)

func parse(_ text: String, role: HTTP1HeadParser.Role = .request) -> Result<HTTP1Head, HTTP1ParseError>? {
    var parser = HTTP1HeadParser(role: role, limits: testLimits)
    var buffer = ByteBuffer(string: text)
    switch parser.parse(&buffer) {
    case .needMore: return nil
    case .head(let head): return .success(head)
    case .invalid(let error): return .failure(error)
    }
}

func error(_ text: String, role: HTTP1HeadParser.Role = .request) -> HTTP1ParseError? {
    if case .failure(let error) = parse(text, role: role) { return error }
    return nil
}

@Suite struct HeadParserTests {
    @Test func requestWithFields() throws {
        let head = try #require(try parse("GET /a?b=1 HTTP/1.1\r\nHost: svc:8080\r\nX-A:  one two \r\n\r\n")?.get())
        #expect(head.method == "GET")
        #expect(head.target == "/a?b=1")
        #expect(head.version == .http11)
        #expect(head.host == "svc:8080")
        #expect(head.fields.count == 2)
        #expect(head.string(head.fields[1].value) == "one two")
        #expect(head.requestFraming == .none)
        #expect(head.keepAlive)
    }

    @Test func incompleteHeadWaits() {
        #expect(parse("GET / HTTP/1.1\r\nHost: a\r\n") == nil)
        #expect(parse("GET / HTTP/1.1\r\nHost: a\r\n\r") == nil)
    }

    @Test func headArrivingInPieces() throws {
        var parser = HTTP1HeadParser(role: .request, limits: testLimits)
        var buffer = ByteBuffer()
        let text = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
        var result: HTTP1Head?
        for byte in text.utf8 {
            buffer.writeInteger(byte)
            if case .head(let head) = parser.parse(&buffer) {
                result = head
                break
            }
        }
        #expect(result?.contentLength == 3)
        #expect(buffer.readableBytes == 0)
    }

    @Test func leadingEmptyLinesAreSkipped() throws {
        let head = try #require(try parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")?.get())
        #expect(head.method == "GET")
    }

    @Test func framing() throws {
        #expect(
            try parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n")?.get().requestFraming
                == .contentLength(12))
        #expect(
            try parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n")?.get().requestFraming
                == .chunked)
        #expect(
            try parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")?.get().requestFraming
                == .chunked)
    }

    @Test(arguments: [
        (
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            HTTP1ParseError.duplicateContentLength
        ),
        ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", .invalidContentLength),
        ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", .invalidContentLength),
        ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", .invalidContentLength),
        ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n\r\n", .invalidContentLength),
        ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", .invalidContentLength),
        ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .unsupportedTransferEncoding),
        ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", .unsupportedTransferEncoding),
        (
            "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            .unsupportedTransferEncoding
        ),
        ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", .unsupportedTransferEncoding),
        ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", .unsupportedTransferEncoding),
        (
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            .contentLengthWithTransferEncoding
        ),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .transferEncodingInHTTP10),
        ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", .invalidFieldName),
        ("GET / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n", .obsoleteLineFolding),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n", .obsoleteLineFolding),
        ("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", .bareLineEnding),
        ("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", .bareLineEnding),
        ("GET / HTTP/1.1\n\n", .bareLineEnding),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{0}b\r\n\r\n", .invalidFieldValue),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{7f}b\r\n\r\n", .invalidFieldValue),
        ("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", .invalidFieldName),
        ("GET / HTTP/1.1\r\nHost: a\r\nX@Y: b\r\n\r\n", .invalidFieldName),
        ("GET / HTTP/1.1\r\n\r\n", .missingHost),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", .duplicateHost),
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", .invalidHost),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", .unsupportedVersion),
        ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", .unsupportedVersion),
        ("GET / http/1.1\r\nHost: a\r\n\r\n", .invalidStartLine),
        ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", .invalidStartLine),
        ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", .invalidStartLine),
        ("GET /\u{1}x HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
        ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", .invalidStartLine),
        ("TRACE / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", .bodyNotAllowed),
        ("TRACE / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", .bodyNotAllowed),
        ("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 3\r\n\r\n", .bodyNotAllowed),
        ("GET * HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
        ("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
        ("GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
        ("GET http://u@a/b HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
        ("GET http:///b HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
        ("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
        ("CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
        // No form has a fragment (RFC 9112 §3.2): "/admin#x" is "/admin" to an app on WHATWG URLs.
        ("GET /admin#x HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
        ("GET /limited# HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
        ("GET /p?q#x HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
        ("GET http://a/admin#x HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
        ("GET http://a#x HTTP/1.1\r\nHost: a\r\n\r\n", .invalidTarget),
        ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close;x\r\n\r\n", .invalidConnection),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-Mesher-Hop: x\r\n\r\n", .invalidFieldValue),
    ])
    func refused(_ text: String, expected: HTTP1ParseError) {
        #expect(error(text) == expected, "\(text.debugDescription)")
    }

    @Test func absoluteFormAuthority() throws {
        let head = try #require(try parse("GET http://Svc:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n")?.get())
        guard case .absolute(let authority, let path) = head.targetForm else {
            Issue.record("not absolute form")
            return
        }
        #expect(head.string(authority) == "Svc:81")
        #expect(head.string(path) == "/p?q")
    }

    @Test func connectionOptions() throws {
        let head = try #require(
            try parse(
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, , X-Secret ,Upgrade\r\nUpgrade: ws\r\n\r\n")?
                .get())
        #expect(head.connectionKeepAlive && head.connectionUpgrade && !head.connectionClose)
        #expect(head.connectionNames.map(head.string) == ["X-Secret"])
        #expect(head.isUpgradeRequest)
    }

    @Test func keepAliveByVersion() throws {
        #expect(try parse("GET / HTTP/1.0\r\n\r\n")?.get().keepAlive == false)
        #expect(try parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")?.get().keepAlive == true)
        #expect(try parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")?.get().keepAlive == false)
    }

    @Test func limits() {
        let many = (0..<21).map { "X-\($0): y\r\n" }.joined()
        #expect(error("GET / HTTP/1.1\r\nHost: a\r\n\(many)\r\n") == .tooManyFields)
        let big = String(repeating: "a", count: 5000)
        #expect(error("GET / HTTP/1.1\r\nHost: a\r\nX: \(big)\r\n\r\n") == .headTooLarge)
        // Without an end in sight, refused as soon as the limit is passed.
        #expect(error("GET /\(big)") == .headTooLarge)
    }

    @Test func responses() throws {
        let ok = try #require(try parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", role: .response)?.get())
        #expect(ok.status == 200)
        #expect(ok.responseFraming(toHEAD: false, toCONNECT: false) == .contentLength(5))
        #expect(ok.responseFraming(toHEAD: true, toCONNECT: false) == .none)
        let bare = try #require(try parse("HTTP/1.1 204\r\n\r\n", role: .response)?.get())
        #expect(bare.status == 204)
        let close = try #require(try parse("HTTP/1.0 200 OK\r\n\r\n", role: .response)?.get())
        #expect(close.responseFraming(toHEAD: false, toCONNECT: false) == .untilClose)
        #expect(!close.keepAlive)
        let chunked304 = try #require(
            try parse("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", role: .response)?.get())
        #expect(chunked304.responseFraming(toHEAD: false, toCONNECT: false) == .none)
        #expect(error("HTTP/1.1 20 OK\r\n\r\n", role: .response) == .invalidStatus)
        #expect(error("HTTP/1.1 999 OK\r\n\r\n", role: .response) == .invalidStatus)
        #expect(
            error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", role: .response)
                == .contentLengthWithTransferEncoding)
        // Host means nothing in a response: not checked.
        #expect(
            try parse("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\nContent-Length: 0\r\n\r\n", role: .response)?.get()
                .status == 200)
    }

    @Test func forwardedFieldsDropConnectionNamesAndHopByHop() throws {
        let head = try #require(
            try parse(
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-drop, content-length\r\nX-Drop: 1\r\nX-Keep: 2\r\nKeep-Alive: 5\r\nContent-Length: 0\r\n\r\n"
            )?.get())
        var kept = ByteBuffer()
        head.writeForwardedFields(to: &kept) { $0 == .host || $0 == .contentLength }
        #expect(String(buffer: kept) == "X-Keep: 2\r\n")
        // The framing the parser read stands whatever Connection names.
        #expect(head.requestFraming == .contentLength(0))
    }
}
