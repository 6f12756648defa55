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

/// Arbitrary HTTP/2 frames (after the connection preface, which the harness sends) into Mesher's HTTP/2
/// server on an embedded channel. Streams to Host `up` go to an instance registered as `protocol: http1`, so
/// every request crosses from HTTP/2 to HTTP/1, where a header or body that the two versions frame
/// differently would turn into smuggling: what Mesher writes upstream must always be a sequence of complete,
/// well-framed HTTP/1 requests (a strict parser reads it without error; only the last may be unfinished), and
/// none may be a path under /admin, which a route rule denies, whatever its spelling.
///
/// The first byte sets how many bytes the client sends at a time (its low 7 bits).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 1 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let step = Int(bytes[0] & 0x7f) + 1
    let input = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + Array(bytes.dropFirst())
    do {
        try Harness().run(input, step: step)
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
    let upstreams = Upstreams()

    init() throws {
        downstream = EmbeddedChannel(loop: loop)
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        var settings = ProxySettings()
        settings.httpLimits = .init(maxHeadBytes: 2048, maxFields: 24)
        // Small windows: inputs of a few KiB cross them, so Mesher's own WINDOW_UPDATEs are exercised.
        settings.http2.streamWindow = 1024
        settings.http2.connectionWindow = 4096
        let loop = self.loop
        let upstreams = self.upstreams
        let pool = UpstreamPool(eventLoop: loop, limits: settings.httpLimits) { address, handler, _ in
            guard upstreams.channels.count < 16 else {
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
        // No original destination: a stream for another host is answered (no-route), never connected anywhere.
        try HTTP2Server.install(
            on: downstream.pipeline.syncOperations, after: nil, connection: connection,
            accepted: Accepted(listener: .outbound, original: nil),
            forward: HTTPForwardContext(
                environment: environment, routes: RouteTable(router: router), rules: LoopRoutes(Self.rules), pool: pool,
                http2Pool: HTTP2UpstreamPool(
                    eventLoop: loop, connector: connector, limits: settings.http2, maxHeaderListSize: 2048),
                endpoints: EndpointTable(policies: settings.traffic), connector: connector))
    }

    static let rules: RoutingRules = {
        var deny = RouteRule()
        deny.match.path = .regex("^/admin")
        deny.action = .directResponse(status: 403, body: "denied")
        var rewrite = RouteRule()
        rewrite.match.path = .prefix("/v2/")
        rewrite.rewritePrefix = "/rewritten/"
        rewrite.requestHeaders.replace = [("x-route", "v2")]
        return RoutingRules(rules: ["up": [deny, rewrite]])
    }()

    func run(_ input: [UInt8], step: Int) throws {
        var streams: [UpstreamStream] = []
        var offset = 0
        while offset < input.count && downstream.isActive {
            let end = min(input.count, offset + step)
            _ = try? downstream.writeInbound(ByteBuffer(bytes: input[offset..<end]))
            offset = end
            while (try? downstream.readOutbound(as: ByteBuffer.self)) != nil {}
            answer(&streams)
        }
        _ = try? downstream.finish()
        for upstream in upstreams.channels { _ = try? upstream.finish() }
        loop.run()
    }

    /// Reads what went upstream on each connection; each complete request gets a short response.
    private func answer(_ streams: inout [UpstreamStream]) {
        var progress = true
        while progress {
            progress = false
            for (index, upstream) in upstreams.channels.enumerated() {
                if streams.count <= index { streams.append(UpstreamStream()) }
                while let written = try? upstream.readOutbound(as: ByteBuffer.self) {
                    progress = true
                    var written = written
                    streams[index].buffer.writeBuffer(&written)
                    for method in streams[index].read() where upstream.isActive {
                        let response =
                            method == "HEAD"
                            ? "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
                            : "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                        _ = try? upstream.writeInbound(ByteBuffer(string: response))
                    }
                }
            }
            while (try? downstream.readOutbound(as: ByteBuffer.self)) != nil {}
        }
    }
}

/// The registry: service `up`, one instance that speaks HTTP/1 only.
private struct OneService: ServiceDiscovery {
    let snapshot = RegistrySnapshot(
        [ServiceInstance(service: "up", address: "198.18.0.2", port: 8080, protocol: .http1)], services: ["up"])
    let sync = RegistrySync(synced: true, lastChange: 1)
}

private final class Upstreams {
    var channels: [EmbeddedChannel] = []
}

/// The bytes Mesher wrote upstream, read as a request stream by Mesher's own strict parser.
private struct UpstreamStream {
    var buffer = ByteBuffer()
    var parser = HTTP1HeadParser(role: .request, limits: Harness.limits)
    var body: HTTP1BodyDecoder?
    var method = ""

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
                    let path = RequestPath.withoutParameters(RequestPath.forwarded(RequestPath.split(head).path))
                    invariant(!path.hasPrefix("/admin"), "a request for \(path) passed the deny rule as \(head.target)")
                    method = head.method
                    body = HTTP1BodyDecoder(framing: head.requestFraming, limits: Harness.limits)
                case .needMore: return complete
                case .invalid(let error):
                    invariant(false, "Mesher sent upstream what is not a request: \(error)")
                }
            }
        }
    }
}
