import HTTP1
import NIOCore
import NIOHPACK
import Testing

@testable import Proxy

/// HTTP/2 requests read through the HTTP/1 parser, and written upstream from what it read.
struct HTTP2MessagesTests {
    static let limits = HTTP1HeadParser.Limits(maxHeadBytes: 64 * 1024, maxFields: 100)

    static func request(_ extra: [(String, String)] = [], authority: String? = "GrpcService:50051") -> HPACKHeaders {
        var fields = [(":method", "POST"), (":scheme", "http")]
        if let authority { fields.append((":authority", authority)) }
        fields += [(":path", "/mesh.Echo/Unary"), ("content-type", "application/grpc"), ("te", "trailers")]
        return HPACKHeaders(fields + extra)
    }

    func head(_ headers: HPACKHeaders) -> Result<HTTP1Head, HTTP2Messages.RequestError> {
        HTTP2Messages.requestHead(headers, bodyFollows: true, limits: Self.limits)
    }

    func error(_ headers: HPACKHeaders) -> HTTP2Messages.RequestError? {
        if case .failure(let error) = head(headers) { error } else { nil }
    }

    @Test func aRequestReadsAsItsHTTP1Head() throws {
        let head = try head(Self.request([("x-mesher-hop", "2"), ("grpc-timeout", "100m")])).get()
        #expect(head.method == "POST" && head.target == "/mesh.Echo/Unary" && head.host == "GrpcService:50051")
        #expect(head.hops == 2 && head.values(of: .te) == ["trailers"])
        #expect(try self.head(Self.request([("host", "H2Web")], authority: nil)).get().host == "H2Web")
    }

    @Test func whatAnHTTP1HopCouldReadOtherwiseIsRefused() {
        // A line break in a value would be a field of its own on an HTTP/1 hop (HTTP/2 header injection).
        #expect(error(Self.request([("x-a", "1\r\nx-b: 2")])) == .fieldValue)
        #expect(error(Self.request([("x-a", "1\u{0}")])) == .fieldValue)
        #expect(error(Self.request([("host", "Elsewhere")])) == .hostMismatch)
        #expect(error(HPACKHeaders([(":method", "CONNECT"), (":authority", "a:1")])) == .connect)
        #expect(error(HPACKHeaders([(":method", "GET"), (":scheme", "http"), (":path", "/a b")])) == .pseudoHeader)
        // A fragment, as on HTTP/1: "/admin#x" is "/admin" to an app on WHATWG URLs, not to route rules.
        for path in ["/admin#x", "/limited#", "/p?q#x"] {
            let headers = HPACKHeaders([(":method", "GET"), (":scheme", "http"), (":authority", "a"), (":path", path)])
            #expect(error(headers) == .parse(.invalidTarget), "\(path)")
        }
        #expect(
            error(Self.request([("content-length", "1"), ("content-length", "2")])) == .parse(.duplicateContentLength))
        let many = (0..<200).map { ("x-\($0)", "v") }
        #expect(error(Self.request(many)) == .parse(.tooManyFields))
    }

    @Test func upstreamHeadersFromWhatMesherWouldSend() throws {
        let head = try head(Self.request([("x-keep", "1")])).get()
        let http1 = HTTPMessages.upstreamRequest(
            head, authority: head.host, hops: head.hops + 1, forwardedFor: nil, upgrade: false)
        let headers = try #require(
            HTTP2Messages.upstreamHeaders(http1, scheme: "http", trailers: true, limits: Self.limits))
        let names = headers.map(\.name)
        #expect(Array(names.prefix(4)) == [":method", ":scheme", ":authority", ":path"])
        #expect(headers.first(name: ":authority") == "GrpcService:50051" && headers.first(name: "host") == nil)
        #expect(headers.first(name: "x-mesher-hop") == "1" && headers.first(name: "x-keep") == "1")
        #expect(headers[canonicalForm: "te"] == ["trailers"] && headers.first(name: "connection") == nil)
    }

    @Test func answersToGRPCAreStatusesAndToOthersPages() {
        let grpc = HTTP2Messages.answer(
            .noHealthyInstance, service: "grpcservice", grpc: true, headOnly: false, allocator: .init())
        guard case .headers(let headers) = grpc.first, grpc.count == 1 else {
            Issue.record("\(grpc)")
            return
        }
        #expect(headers.endStream && headers.headers.first(name: ":status") == "200")
        #expect(headers.headers.first(name: "grpc-status") == "14")
        #expect(headers.headers.first(name: "grpc-message") == "mesher: no-healthy-instance (service grpcservice)")
        let page = HTTP2Messages.answer(
            .noHealthyInstance, service: nil, grpc: false, headOnly: false, allocator: .init())
        guard case .headers(let head) = page.first, case .data(let body) = page.last, page.count == 2 else {
            Issue.record("\(page)")
            return
        }
        #expect(
            head.headers.first(name: ":status") == "503"
                && head.headers.first(name: "x-mesher-error") == "no-healthy-instance")
        #expect(body.endStream && body.data.readableBytes == "mesher: no-healthy-instance\n".utf8.count)
        let timeout = HTTP2Messages.answer(
            .requestTimeout, service: nil, grpc: true, headOnly: false, allocator: .init())
        guard case .headers(let late) = timeout.first else {
            Issue.record("\(timeout)")
            return
        }
        #expect(late.headers.first(name: "grpc-status") == "4")
    }
}

struct GRPCCallTests {
    @Test func timeouts() {
        func timeout(_ text: String) -> UInt64? { GRPCCall.timeout(HPACKHeaders([("grpc-timeout", text)])) }
        #expect(timeout("100m") == 100_000_000 && timeout("2S") == 2_000_000_000 && timeout("1H") == 3_600_000_000_000)
        #expect(timeout("5u") == 5_000 && timeout("7n") == 7 && timeout("99999999M") == 99_999_999 * 60_000_000_000)
        #expect(timeout("123456789S") == nil && timeout("m") == nil && timeout("10x") == nil && timeout("-1S") == nil)
    }

    @Test func statusesAsTheBalancerJudgesThem() {
        #expect(GRPCCall.httpEquivalent(0) == 200 && GRPCCall.httpEquivalent(13) == 500)
        #expect(GRPCCall.httpEquivalent(14) == 503 && GRPCCall.httpEquivalent(3) == 400)
        #expect(GRPCCall.status(forHTTP: 429) == 14 && GRPCCall.status(forHTTP: 403) == 7)
        #expect(GRPCCall.status(for: .requestTimeout) == 4 && GRPCCall.status(for: .overflow) == 14)
        #expect(GRPCCall.message("50% ü") == "50%25 %C3%BC")
    }
}

struct HTTP2StreamMachineTests {
    typealias Machine = HTTP2Stream.Machine

    @Test func aRequestWithBodyAndTrailers() {
        var machine = Machine()
        #expect(!machine.releasesBody(upstreamTakes: true), "no body before the headers")
        #expect(machine.received(headers: true, endStream: false) == .begin)
        #expect(!machine.releasesBody(upstreamTakes: false) && machine.releasesBody(upstreamTakes: true))
        #expect(machine.received(headers: false, endStream: false) == .body)
        #expect(machine.received(headers: true, endStream: false) == .ignore, "headers mid-body must end it")
        #expect(machine.received(headers: true, endStream: true) == .trailers)
        #expect(machine.received(headers: false, endStream: false) == .ignore)
        #expect(!machine.releasesBody(upstreamTakes: true), "the request ended: no window to open")
    }

    @Test func anEarlyResponseDropsTheRestOfTheRequest() {
        var machine = Machine()
        _ = machine.received(headers: true, endStream: false)
        machine.responseStarted()
        machine.responseEnded()
        #expect(machine.releasesBody(upstreamTakes: false), "dropped, and the client's window opens")
        #expect(machine.received(headers: false, endStream: true) == .body)
    }
}
