import HTTPClients
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import Registration

/// The probe against a real HTTP server on 127.0.0.1: status and body judged as configured, redirects not
/// followed, bodies bounded, the timeout kept.
@Suite struct HealthProbeTests {
    /// For the whole test run: AsyncHTTPClient traps on a client released without a shutdown.
    static let client = MesherHTTPClient(group: MultiThreadedEventLoopGroup.singleton)

    func probe(
        _ app: TestApp, _ path: String, expectStatus: Int? = nil, bodyContains: String? = nil,
        timeout: TimeAmount = .seconds(2)
    ) async throws -> HealthProbe.Outcome {
        let probe = HealthProbe(
            kind: .http(path: path, expectStatus: expectStatus, bodyContains: bodyContains), host: "127.0.0.1",
            port: app.port, timeout: timeout)
        return try await probe.run(on: MultiThreadedEventLoopGroup.singleton.next(), client: Self.client).get()
    }

    @Test func statusAndBody() async throws {
        let app = try await TestApp.start()
        #expect(try await probe(app, "/up") == .passed)
        #expect(try await probe(app, "/up", expectStatus: 200, bodyContains: "UP") == .passed)
        #expect(try await probe(app, "/up", bodyContains: "DOWN") == .failed("body without 'DOWN'"))
        #expect(try await probe(app, "/down") == .failed("status 503"))
        #expect(try await probe(app, "/down", expectStatus: 503) == .passed)
        #expect(try await probe(app, "/up", expectStatus: 204) == .failed("status 200 (expected 204)"))
        try await app.close()
    }

    /// A redirect is the app's answer: judged by its status, never followed to a page that would pass.
    @Test func redirectIsNotFollowed() async throws {
        let app = try await TestApp.start()
        #expect(try await probe(app, "/redirect", bodyContains: "UP") == .failed("status 302"))
        #expect(try await probe(app, "/redirect", expectStatus: 302) == .passed)
        try await app.close()
    }

    /// Only the first 64 KiB are searched; a larger body is read to its end and dropped, not an error.
    @Test func bodyIsBounded() async throws {
        let app = try await TestApp.start()
        #expect(try await probe(app, "/big", bodyContains: "UP") == .failed("body without 'UP'"))
        #expect(try await probe(app, "/big", bodyContains: "xxxx") == .passed)
        try await app.close()
    }

    @Test func silentAppFailsWithinTheTimeout() async throws {
        let app = try await TestApp.start()
        let clock = ContinuousClock()
        let started = clock.now
        #expect(try await probe(app, "/silent", timeout: .milliseconds(200)) == .failed("timeout"))
        #expect(clock.now - started < .seconds(2))
        try await app.close()
    }

    /// An app not listening where it is probed: the cause names the address, over HTTP and TCP alike.
    @Test func refusedConnectionsSayWhere() async throws {
        let reserved = try ReservedPort()
        defer { reserved.release() }
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let refused = HealthProbe.Outcome.failed("connect refused 127.0.0.1:\(reserved.port)")
        for kind in [HealthProbe.Kind.tcp, .http(path: "/", expectStatus: nil, bodyContains: nil)] {
            let probe = HealthProbe(kind: kind, host: "127.0.0.1", port: reserved.port, timeout: .seconds(1))
            #expect(try await probe.run(on: eventLoop, client: Self.client).get() == refused)
        }
        #expect(
            HealthProbe(kind: .tcp, host: "2001:db8::2", port: 80, timeout: .seconds(1)).authority == "[2001:db8::2]:80"
        )
    }

    @Test func tcp() async throws {
        let app = try await TestApp.start()
        let client = Self.client
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let open = HealthProbe(kind: .tcp, host: "127.0.0.1", port: app.port, timeout: .seconds(1))
        #expect(try await open.run(on: eventLoop, client: client).get() == .passed)
        try await app.close()
        // A port bound but not listening refuses connections, and, unlike a port just closed, no test running
        // alongside can take it meanwhile.
        let reserved = try ReservedPort()
        defer { reserved.release() }
        let closed = HealthProbe(kind: .tcp, host: "127.0.0.1", port: reserved.port, timeout: .seconds(1))
        #expect(try await closed.run(on: eventLoop, client: client).get() != .passed)
    }
}

/// A TCP port on 127.0.0.1 held by a socket that never listens.
struct ReservedPort {
    struct Failure: Error {}

    let descriptor: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, bound else { throw Failure() }
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func release() { close(descriptor) }
}

/// An app on 127.0.0.1 with one answer per path.
struct TestApp {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start() async throws -> TestApp {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(TestAppHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TestApp(channel: channel)
    }

    func close() async throws { try await channel.close() }
}

private final class TestAppHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var path = ""

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): path = head.uri
        case .body: break
        case .end: respond(context)
        }
    }

    private func respond(_ context: ChannelHandlerContext) {
        switch path {
        case "/up": answer(context, .ok, "status: UP")
        case "/down": answer(context, .serviceUnavailable, "status: DOWN")
        case "/redirect": answer(context, .found, "", extra: [("location", "/up")])
        case "/big": answer(context, .ok, String(repeating: "x", count: 100 * 1024) + "UP")
        case "/silent": break
        default: answer(context, .notFound, "")
        }
    }

    private func answer(
        _ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ body: String, extra: [(String, String)] = []
    ) {
        let headers = HTTPHeaders([("content-length", "\(body.utf8.count)")] + extra)
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
