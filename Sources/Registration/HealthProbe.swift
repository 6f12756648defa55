import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One check of the local app: a TCP connect, or an HTTP GET whose status (and body) must match.
public struct HealthProbe: Sendable {
    public enum Kind: Sendable {
        case tcp
        /// `expectStatus` nil accepts any 2xx.
        case http(path: String, expectStatus: Int?, bodyContains: String?)
    }

    public var kind: Kind
    public var host: String
    public var port: Int
    public var timeout: TimeAmount

    public init(kind: Kind, host: String, port: Int, timeout: TimeAmount) {
        self.kind = kind
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    /// Succeeds with whether the app passed; never fails.
    func run(on eventLoop: any EventLoop) -> EventLoopFuture<Bool> {
        let verdict = Verdict(eventLoop.makePromise(of: Bool.self))
        let timer = eventLoop.scheduleTask(in: timeout) { verdict.settle(false) }
        verdict.futureResult.whenComplete { _ in timer.cancel() }
        let kind = self.kind
        let host = self.host
        ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard case .http(let path, let status, let body) = kind else { return }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        HealthResponseHandler(
                            host: host, path: path, expectStatus: status, bodyContains: body, verdict: verdict))
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    if case .tcp = kind { verdict.settle(true) }
                    verdict.futureResult.whenComplete { _ in channel.close(promise: nil) }
                case .failure:
                    verdict.settle(false)
                }
            }
        return verdict.futureResult
    }
}

/// The outcome of one probe: the first of pass, fail or timeout counts, later ones are ignored.
private final class Verdict: Sendable {
    private let promise: EventLoopPromise<Bool>
    private let settled = Atomic(false)

    init(_ promise: EventLoopPromise<Bool>) { self.promise = promise }

    var futureResult: EventLoopFuture<Bool> { promise.futureResult }

    func settle(_ passed: Bool) {
        if !settled.exchange(true, ordering: .relaxed) { promise.succeed(passed) }
    }
}

/// Sends the GET and judges the response.
private final class HealthResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// Enough of a body to find a marker in; the rest is not read.
    static let maxBody = 64 * 1024

    let host: String
    let path: String
    let expectStatus: Int?
    let bodyContains: String?
    let verdict: Verdict
    private var status: Int?
    private var body = ByteBuffer()

    init(host: String, path: String, expectStatus: Int?, bodyContains: String?, verdict: Verdict) {
        self.host = host
        self.path = path
        self.expectStatus = expectStatus
        self.bodyContains = bodyContains
        self.verdict = verdict
    }

    func channelActive(context: ChannelHandlerContext) {
        let headers = HTTPHeaders([("host", host), ("user-agent", "mesher-health-check"), ("connection", "close")])
        context.write(
            wrapOutboundOut(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers))),
            promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
        case .body(var part):
            if body.readableBytes < Self.maxBody { body.writeBuffer(&part) }
        case .end:
            verdict.settle(passed())
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        verdict.settle(false)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        verdict.settle(false)
        context.close(promise: nil)
    }

    private func passed() -> Bool {
        guard let status else { return false }
        let statusOK = expectStatus.map { $0 == status } ?? (200..<300).contains(status)
        let bodyOK = bodyContains.map { String(buffer: body).contains($0) } ?? true
        return statusOK && bodyOK
    }
}
