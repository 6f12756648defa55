import FuzzSupport
import HTTP1
import Limits
import Logging
import NIOCore
import NIOEmbedded
import Routing

@testable import Proxy

/// Arbitrary client bytes into the forwarding handler on an embedded channel, with a pooled upstream
/// connection that answers every request it receives. Whatever Mesher writes upstream must always be a
/// sequence of complete, well-framed requests (a strict parser reads it without error; only the last may be
/// unfinished, while its body is still coming): never an unframed body, never bytes between requests.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 1 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let step = Int(bytes[0]) + 1
    let input = Array(bytes.dropFirst())
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
    let upstream: EmbeddedChannel

    init() throws {
        downstream = EmbeddedChannel(loop: loop)
        upstream = EmbeddedChannel(loop: loop)
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        var settings = ProxySettings()
        settings.httpLimits = .init(maxHeadBytes: 2048, maxFields: 24)
        // A connection the upstream closed is not replaced: new connections fail (Mesher answers 502).
        let loop = self.loop
        let pool = UpstreamPool(eventLoop: loop, limits: settings.httpLimits) { _, _ in
            loop.makeFailedFuture(ChannelError.connectTimeout(.seconds(1)))
        }
        let environment = ProxyEnvironment(
            settings: settings,
            loopGuard: LoopGuard(
                ownPorts: settings.ownPorts, localAddresses: LocalAddressTable([[198, 18, 0, 1]], lookup: { [] })),
            logger: logger, accessLog: nil)
        let connection = DownstreamConnection(
            channel: downstream, direction: .outbound, environment: environment, warnings: RateLimitedLog())
        try downstream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 15001)).wait()
        let forward = HTTPForwardHandler(
            connection: connection, accepted: Accepted(listener: .outbound, original: Self.upstreamAddress),
            forward: HTTPForwardContext(
                environment: environment, routes: RouteTable(router: nil), pool: pool,
                endpoints: EndpointTable(policies: settings.traffic), connector: UpstreamConnector(settings: settings)))
        try downstream.pipeline.syncOperations.addHandler(forward)
        let pooled = UpstreamHTTPHandler(address: Self.upstreamAddress, pool: pool, limits: settings.httpLimits)
        try upstream.pipeline.syncOperations.addHandler(pooled)
        try upstream.connect(to: Self.upstreamAddress).wait()
        pool.release(pooled)
    }

    func run(_ input: [UInt8], step: Int) throws {
        var upstreamParser = UpstreamStream()
        var offset = 0
        while offset < input.count && downstream.isActive {
            let end = min(input.count, offset + step)
            _ = try? downstream.writeInbound(ByteBuffer(bytes: input[offset..<end]))
            offset = end
            try answer(&upstreamParser)
        }
        if downstream.isActive { downstream.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        try answer(&upstreamParser)
        _ = try? downstream.finish()
        _ = try? upstream.finish()
        // A channel closed from inside a handler takes its handlers out in a task, which an embedded loop runs
        // only when told to: without this every input that closes a channel would leak its pipeline.
        loop.run()
    }

    /// Reads what went upstream; each complete request gets a short response.
    private func answer(_ stream: inout UpstreamStream) throws {
        while let written = try upstream.readOutbound(as: ByteBuffer.self) {
            var written = written
            stream.buffer.writeBuffer(&written)
            for method in stream.read() where upstream.isActive {
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
    }
}

/// The bytes Mesher wrote upstream, read as a request stream by Mesher's own strict parser.
private struct UpstreamStream {
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
                    method = head.method
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
