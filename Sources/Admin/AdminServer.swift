import Limits
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Mesher's own endpoints: `/healthz` (the process serves) and `/ready` (the app it stands beside is up),
/// for the kubelet's probes and for people, `/metrics` for Prometheus, and `POST /quitquitquit` for the app.
public final class AdminServer: Sendable {
    /// On `/ready` answers once Mesher itself serves, whatever the app's health (`mesher await` reads it).
    public static let proxyReadyHeader = "x-mesher-proxy"

    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    public static func start(
        host: String, port: Int, group: any EventLoopGroup, logger: Logger,
        endpoints: AdminEndpoints = AdminEndpoints(),
        notReady: @escaping @Sendable () -> String?, quit: @escaping @Sendable () -> Void
    ) async throws -> AdminServer {
        // A hostile page can send refused requests in a loop: one line per 10 s.
        let refusals = RateLimitedLog<AdminRefusal>()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        AdminHandler(
                            endpoints: endpoints, notReady: notReady, quit: quit, logger: logger, refusals: refusals))
                }
            }
            .bind(host: host, port: port).get()
        logger.info("admin listening", metadata: ["address": "\(host):\(port)"])
        return AdminServer(channel: channel)
    }

    public var localAddress: SocketAddress? { channel.localAddress }

    public func close() async {
        try? await channel.close()
    }
}

private final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoints: AdminEndpoints
    private let notReady: @Sendable () -> String?
    private let quit: @Sendable () -> Void
    private let logger: Logger
    private let refusals: RateLimitedLog<AdminRefusal>
    private var request: HTTPRequestHead?

    init(
        endpoints: AdminEndpoints, notReady: @escaping @Sendable () -> String?, quit: @escaping @Sendable () -> Void,
        logger: Logger, refusals: RateLimitedLog<AdminRefusal>
    ) {
        self.endpoints = endpoints
        self.notReady = notReady
        self.quit = quit
        self.logger = logger
        self.refusals = refusals
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let request else { return }
            self.request = nil
            if let refusal = SameOriginCheck.refusal(request.headers, port: context.localAddress?.port) {
                refusals.log(
                    .crossSiteOrHost, "admin request refused: \(refusal)",
                    metadata: [
                        "method": "\(request.method.rawValue)", "path": "\(request.uri.prefix(200))",
                        "origin": "\(request.headers["origin"].first?.prefix(100) ?? "-")",
                    ], to: logger)
                respond(
                    AdminRoutes.Answer(status: .forbidden, body: "forbidden: \(refusal)\n"), to: request,
                    context: context)
                return
            }
            let reply = AdminRoutes.answer(
                method: request.method, uri: request.uri, fromLoopback: context.remoteAddress?.isLoopback ?? false,
                endpoints: endpoints, notReady: notReady)
            switch reply {
            case .now(let answer):
                respond(answer, to: request, context: context)
                if answer.quits {
                    logger.notice("shutting down: POST /quitquitquit")
                    quit()
                }
            case .later(let gather):
                // Reads stop meanwhile: a pipelined request waits for this answer.
                let promise = context.eventLoop.makePromise(of: AdminRoutes.Answer.self)
                promise.completeWithTask { await gather() }
                promise.futureResult.assumeIsolated().whenSuccess { [self] answer in
                    respond(answer, to: request, context: context)
                }
            }
        }
    }

    private func respond(_ answer: AdminRoutes.Answer, to request: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders([
            ("content-type", answer.contentType), ("content-length", "\(answer.body.utf8.count)"),
        ])
        let keepAlive = request.isKeepAlive && !answer.quits
        if !keepAlive { headers.add(name: "connection", value: "close") }
        if answer.proxyReady { headers.add(name: AdminServer.proxyReadyHeader, value: "ready") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: answer.status, headers: headers))),
            promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: answer.body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}

/// The one kind of line about refused admin requests.
enum AdminRefusal: Hashable, Sendable { case crossSiteOrHost }

extension SocketAddress {
    fileprivate var isLoopback: Bool {
        switch self {
        case .v4(let address): address.address.sin_addr.s_addr.bigEndian >> 24 == 127
        case .v6: ipAddress == "::1" || ipAddress?.hasPrefix("::ffff:127.") == true
        case .unixDomainSocket: true
        }
    }
}
