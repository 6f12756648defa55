import NIOCore
import NIOHTTP1
import NIOPosix

/// One `GET /ready` to Mesher's admin port: true on 200, false on anything else, refused or slow.
enum ReadinessProbe {
    static func isReady(host: String, port: Int, group: any EventLoopGroup) async -> Bool {
        let status = group.next().makePromise(of: HTTPResponseStatus.self)
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(1))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(StatusHandler(status: status))
                    }
                }
                .connect(host: host, port: port).get()
            let head = HTTPRequestHead(
                version: .http1_1, method: .GET, uri: "/ready",
                headers: ["host": "\(host):\(port)", "connection": "close"])
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            // A server that accepts and never answers must not hold the wait beyond its own timeout.
            let timeout = channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
            defer {
                timeout.cancel()
                channel.close(promise: nil)
            }
            return try await status.futureResult.get() == .ok
        } catch {
            status.fail(error)
            return false
        }
    }

    private final class StatusHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let status: EventLoopPromise<HTTPResponseStatus>

        init(status: EventLoopPromise<HTTPResponseStatus>) { self.status = status }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head(let head) = unwrapInboundIn(data) { status.succeed(head.status) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            status.fail(ChannelError.eof)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            status.fail(error)
            context.close(promise: nil)
        }
    }
}
