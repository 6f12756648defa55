import NIOCore
import NIOHTTP1
import NIOPosix

/// One `GET /ready` to Mesher's admin port: true once Mesher itself serves (200, or 503 for an app that is
/// not healthy yet: the command `mesher await` starts is usually that app), false when refused or slow.
enum ReadinessProbe {
    static func isReady(host: String, port: Int, group: any EventLoopGroup) async -> Bool {
        let answer = group.next().makePromise(of: HTTPResponseHead.self)
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(1))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(StatusHandler(answer: answer))
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
            let response = try await answer.futureResult.get()
            return response.status == .ok || response.headers.first(name: "x-mesher-proxy") == "ready"
        } catch {
            answer.fail(error)
            return false
        }
    }

    private final class StatusHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let answer: EventLoopPromise<HTTPResponseHead>

        init(answer: EventLoopPromise<HTTPResponseHead>) { self.answer = answer }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head(let head) = unwrapInboundIn(data) { answer.succeed(head) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            answer.fail(ChannelError.eof)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            answer.fail(error)
            context.close(promise: nil)
        }
    }
}
