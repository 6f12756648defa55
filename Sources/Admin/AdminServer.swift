import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Mesher's own endpoints: `/healthz` (the process serves) and `/ready` (the app it stands beside is up),
/// for the kubelet's probes and for people.
public final class AdminServer: Sendable {
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    public static func start(
        host: String, port: Int, group: any EventLoopGroup, logger: Logger, isReady: @escaping @Sendable () -> Bool
    ) throws -> AdminServer {
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(isReady: isReady))
                }
            }
            .bind(host: host, port: port).wait()
        logger.info("admin listening", metadata: ["address": "\(host):\(port)"])
        return AdminServer(channel: channel)
    }

    public func close() {
        try? channel.close().wait()
    }
}

private final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let isReady: @Sendable () -> Bool
    private var request: HTTPRequestHead?

    init(isReady: @escaping @Sendable () -> Bool) {
        self.isReady = isReady
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let request else { return }
            let (status, body): (HTTPResponseStatus, String) =
                switch (request.method, request.uri.split(separator: "?").first ?? "") {
                case (.GET, "/healthz"): (.ok, "ok\n")
                case (.GET, "/ready"): isReady() ? (.ok, "ready\n") : (.serviceUnavailable, "app not healthy\n")
                default: (.notFound, "not found: /healthz, /ready\n")
                }
            var headers = HTTPHeaders([("content-type", "text/plain"), ("content-length", "\(body.utf8.count)")])
            if !request.isKeepAlive { headers.add(name: "connection", value: "close") }
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            let keepAlive = request.isKeepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
            self.request = nil
        }
    }
}
