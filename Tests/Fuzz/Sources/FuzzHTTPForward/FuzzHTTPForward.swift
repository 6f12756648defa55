import Discovery
import FuzzSupport
import HTTP1
import Limits
import Logging
import MesherBase
import NIOCore
import NIOEmbedded
import Routing

@testable import Proxy

/// Arbitrary client bytes into the forwarding handler on an embedded channel, with a pooled upstream
/// connection that answers every request it receives. Whatever Mesher writes upstream must always be a
/// sequence of complete, well-framed requests (a strict parser reads it without error; only the last may be
/// unfinished, while its body is still coming): never an unframed body, never bytes between requests.
///
/// The first byte sets how many bytes the client sends at a time (its low 7 bits) and, with its high bit, has
/// the pooled connection close instead of answering the first request (the keep-alive race): an idempotent
/// request then goes again on a new connection, with its body replayed, and that connection must receive
/// exactly what the first one did before anything else.
///
/// Requests to Host `up` are to a registry service with route rules (a deny rule on "^/admin", a rewrite with
/// header edits, a canary header rule, an injected abort): none that the upstream would read as a path under
/// /admin may ever reach it, whatever its spelling.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 1 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let step = Int(bytes[0] & 0x7f) + 1
    let input = Array(bytes.dropFirst())
    do {
        try Harness(closeFirst: bytes[0] & 0x80 != 0).run(input, step: step)
    } catch {
        invariant(false, "embedded channel failed: \(error)")
    }
    return 0
}

private struct Harness {
    static let upstreamAddress = try! SocketAddress(ipAddress: "198.18.0.2", port: 8080)
    static let limits = HTTP1HeadParser.Limits(maxHeadBytes: 1 << 20, maxFields: 1000)
    let loop = EmbeddedEventLoop()
    let downstream: EmbeddedChannel
    /// The pooled connection first, then each one Mesher opens.
    let upstreams = Upstreams()
    let closeFirst: Bool

    init(closeFirst: Bool) throws {
        self.closeFirst = closeFirst
        downstream = EmbeddedChannel(loop: loop)
        let upstream = EmbeddedChannel(loop: loop)
        upstreams.channels.append(upstream)
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        var settings = ProxySettings()
        settings.httpLimits = .init(maxHeadBytes: 2048, maxFields: 24)
        // New connections are embedded channels too, answered like the first (at most a few: the first one's
        // close is the only reason to open one, and a bounded number of requests follow).
        let loop = self.loop
        let upstreams = self.upstreams
        let pool = UpstreamPool(eventLoop: loop, limits: settings.httpLimits) { address, handler, _ in
            guard upstreams.channels.count < 8 else {
                return loop.makeFailedFuture(ChannelError.connectTimeout(.seconds(1)))
            }
            let channel = EmbeddedChannel(loop: loop)
            upstreams.channels.append(channel)
            try? channel.pipeline.syncOperations.addHandler(handler)
            return channel.connect(to: address).map { channel as any Channel }
        }
        let environment = ProxyEnvironment(
            settings: settings,
            loopGuard: LoopGuard(
                ownPorts: settings.ownPorts, localAddresses: LocalAddressTable([[198, 18, 0, 1]], lookup: { [] })),
            logger: logger, accessLog: nil)
        let connection = DownstreamConnection(
            channel: downstream, direction: .outbound, environment: environment, warnings: RateLimitedLog())
        try downstream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 15001)).wait()
        let router = ServiceRouter(discovery: OneService(), searchSuffixes: [])
        let connector = UpstreamConnector(settings: settings)
        let forward = HTTPForwardHandler(
            connection: connection, accepted: Accepted(listener: .outbound, original: Self.upstreamAddress),
            forward: HTTPForwardContext(
                environment: environment, routes: RouteTable(router: router), rules: LoopRoutes(Self.rules), pool: pool,
                http2Pool: HTTP2UpstreamPool(
                    eventLoop: loop, connector: connector, limits: settings.http2, maxHeaderListSize: 2048),
                endpoints: EndpointTable(policies: settings.traffic), connector: connector))
        try downstream.pipeline.syncOperations.addHandler(forward)
        let pooled = UpstreamHTTPHandler(address: Self.upstreamAddress, pool: pool, limits: settings.httpLimits)
        try upstream.pipeline.syncOperations.addHandler(pooled)
        try upstream.connect(to: Self.upstreamAddress).wait()
        pool.release(pooled)
    }

    static let rules: RoutingRules = {
        var deny = RouteRule()
        deny.match.path = .regex("^/admin")
        deny.action = .directResponse(status: 403, body: "denied")
        var rewrite = RouteRule()
        rewrite.match.path = .prefix("/v2/")
        rewrite.rewritePrefix = "/rewritten/"
        rewrite.requestHeaders.replace = [("x-route", "v2")]
        rewrite.requestHeaders.remove = ["x-debug"]
        var canary = RouteRule()
        canary.match.headers = [("x-canary", .exact("1"))]
        canary.action = .forward([WeightedSubset(subset: SubsetSelector(version: "1"), weight: 1)])
        canary.requestHeaders.add = [("x-canary-seen", "yes")]
        var abort = RouteRule()
        abort.match.query = [("abort", .present)]
        var fault = FaultInjection()
        fault.abort = (418, 100)
        abort.fault = fault
        return RoutingRules(rules: ["up": [deny, rewrite, canary, abort]])
    }()

    func run(_ input: [UInt8], step: Int) throws {
        var streams: [UpstreamStream] = []
        var offset = 0
        while offset < input.count && downstream.isActive {
            let end = min(input.count, offset + step)
            _ = try? downstream.writeInbound(ByteBuffer(bytes: input[offset..<end]))
            offset = end
            try answer(&streams)
        }
        if downstream.isActive { downstream.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        try answer(&streams)
        // An idempotent request (not an upgrade) is sent again in full; any other one is answered 502 and the
        // next request opens the new connection.
        let idempotent = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]
        if closeFirst, streams.count > 1, let first = streams[0].first, !first.upgrade,
            idempotent.contains(first.method)
        {
            invariant(
                streams[1].written.starts(with: streams[0].written),
                "the request sent again is not the one the closed connection got")
        }
        _ = try? downstream.finish()
        for upstream in upstreams.channels { _ = try? upstream.finish() }
        // A channel closed from inside a handler takes its handlers out in a task, which an embedded loop runs
        // only when told to: without this every input that closes a channel would leak its pipeline.
        loop.run()
    }

    /// Reads what went upstream on each connection (until none has more: answering one may send on another);
    /// each complete request gets a short response, except the first one's when it is to close instead.
    private func answer(_ streams: inout [UpstreamStream]) throws {
        var progress = true
        while progress {
            progress = false
            for (index, upstream) in upstreams.channels.enumerated() {
                if streams.count <= index { streams.append(UpstreamStream()) }
                progress = try answer(upstream, &streams[index], closing: closeFirst && index == 0) || progress
            }
        }
    }

    private func answer(_ upstream: EmbeddedChannel, _ stream: inout UpstreamStream, closing: Bool) throws -> Bool {
        var progress = false
        while let written = try upstream.readOutbound(as: ByteBuffer.self) {
            progress = true
            var written = written
            stream.written += written.readableBytesView
            stream.buffer.writeBuffer(&written)
            let completed = stream.read()
            if closing && !completed.isEmpty {
                _ = upstream.close()
                return true
            }
            for method in completed where upstream.isActive {
                // Never a tunnel (CONNECT is declined, upgrades get a 200): the stream stays HTTP to check.
                let response =
                    switch method {
                    case "CONNECT": "HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n"
                    case "HEAD": "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
                    default: "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                    }
                _ = try? upstream.writeInbound(ByteBuffer(string: response))
            }
        }
        return progress
    }
}

/// The registry: service `up`, one instance, the upstream.
private struct OneService: ServiceDiscovery {
    let snapshot = RegistrySnapshot(
        [ServiceInstance(service: "up", address: "198.18.0.2", port: 8080, version: "1")], services: ["up"])
    let sync = RegistrySync(synced: true, lastChange: 1)
}

/// The upstream connections of one run; the pool's connect adds to it.
private final class Upstreams {
    var channels: [EmbeddedChannel] = []
}

/// The bytes Mesher wrote upstream, read as a request stream by Mesher's own strict parser.
private struct UpstreamStream {
    /// Every byte written to the connection.
    var written: [UInt8] = []
    /// The first request's method, and whether it asked for an upgrade.
    var first: (method: String, upgrade: Bool)?
    var buffer = ByteBuffer()
    var parser = HTTP1HeadParser(role: .request, limits: Harness.limits)
    var body: HTTP1BodyDecoder?
    var method = ""

    /// Reads on; the methods of the requests completed. Any error is a broken invariant.
    mutating func read() -> [String] {
        var complete: [String] = []
        while true {
            if var decoder = body {
                let event = decoder.next(&buffer)
                body = decoder
                switch event {
                case .data: continue
                case .end:
                    body = nil
                    complete.append(method)
                case .needMore: return complete
                case .invalid(let error): invariant(false, "a body Mesher sent upstream is not framed: \(error)")
                }
            } else {
                switch parser.parse(&buffer) {
                case .head(let head):
                    invariant(head.version == .http11 && head.hops >= 1, "not a head Mesher wrote")
                    if head.host.flatMap(ServiceName.normalize) == "up" {
                        let path = RequestPath.withoutParameters(RequestPath.forwarded(RequestPath.split(head).path))
                        invariant(
                            path != "/admin" && !path.hasPrefix("/admin"),
                            "a request for \(path) passed the deny rule as \(head.target)")
                    }
                    method = head.method
                    if first == nil { first = (head.method, head.isUpgradeRequest) }
                    body = HTTP1BodyDecoder(framing: head.requestFraming, limits: Harness.limits)
                case .needMore: return complete
                case .invalid(let error):
                    invariant(
                        false,
                        "Mesher sent upstream what is not a request: \(error) \(String(buffer: buffer).prefix(200).debugDescription)"
                    )
                }
            }
        }
    }
}
