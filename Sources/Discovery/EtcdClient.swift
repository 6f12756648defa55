import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Just enough of etcd's v3 API, through its JSON gateway (`POST /v3/...`, keys and values in base64):
/// unary calls on a connection each, and a watch as one long response of JSON objects.
struct EtcdClient: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let endpoints: [(host: String, port: Int)]
    let group: any EventLoopGroup
    let timeout: TimeAmount

    /// The first endpoint that answers; the result is the reply's JSON, decoded.
    func call<Reply: Decodable & Sendable>(_ path: String, _ body: [String: String], as: Reply.Type) -> EventLoopFuture<
        Reply
    > {
        call(path, body).flatMapThrowing { try JSONDecoder().decode(Reply.self, from: $0) }
    }

    func call(_ path: String, _ body: [String: String]) -> EventLoopFuture<Data> {
        let eventLoop = group.next()
        let json = (try? JSONEncoder().encode(body)) ?? Data()
        @Sendable func attempt(_ index: Int) -> EventLoopFuture<Data> {
            request(path, body: json, endpoint: endpoints[index], on: eventLoop, stream: nil).flatMapError { error in
                index + 1 < endpoints.count ? attempt(index + 1) : eventLoop.makeFailedFuture(error)
            }
        }
        return endpoints.isEmpty ? eventLoop.makeFailedFuture(Failure(description: "no etcd endpoint")) : attempt(0)
    }

    /// Streams the watch's responses to `onMessage` until the connection ends (then the future completes);
    /// `onMessage` returning false ends it.
    func watch(
        _ body: [String: String], endpoint: Int, onMessage: @escaping @Sendable (Data) -> Bool
    ) -> EventLoopFuture<Data> {
        let json = (try? JSONEncoder().encode(["create_request": body])) ?? Data()
        return request(
            "/v3/watch", body: json, endpoint: endpoints[endpoint % endpoints.count], on: group.next(),
            stream: onMessage)
    }

    private func request(
        _ path: String, body: Data, endpoint: (host: String, port: Int), on eventLoop: any EventLoop,
        stream: (@Sendable (Data) -> Bool)?
    ) -> EventLoopFuture<Data> {
        let promise = eventLoop.makePromise(of: Data.self)
        let timeout = stream == nil ? self.timeout : nil
        ClientBootstrap(group: eventLoop)
            .connectTimeout(self.timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        EtcdResponseHandler(
                            host: endpoint.host, path: path, body: body, promise: promise, stream: stream))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    if let timeout {
                        let timer = eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
                        promise.futureResult.whenComplete { _ in timer.cancel() }
                    }
                    promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                case .failure(let error):
                    promise.fail(error)
                }
            }
        return promise.futureResult
    }
}

extension EtcdClient {
    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    static func text(base64: String?) -> String? {
        guard let base64, let data = Data(base64Encoded: base64) else { return nil }
        return String(data: data, encoding: .utf8)
    }

    /// The end of the key range that holds every key starting with `prefix`.
    static func rangeEnd(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        bytes[bytes.count - 1] += 1
        return Data(bytes).base64EncodedString()
    }
}

/// Sends one POST and collects the JSON reply: the whole body for a unary call, or each JSON object
/// (one per line) as it arrives for a watch.
private final class EtcdResponseHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let host: String
    let path: String
    let body: Data
    let promise: EventLoopPromise<Data>
    let stream: (@Sendable (Data) -> Bool)?
    private var status: UInt = 0
    private var buffer = ByteBuffer()
    private var done = false

    init(
        host: String, path: String, body: Data, promise: EventLoopPromise<Data>,
        stream: (@Sendable (Data) -> Bool)?
    ) {
        self.host = host
        self.path = path
        self.body = body
        self.promise = promise
        self.stream = stream
    }

    func channelActive(context: ChannelHandlerContext) {
        let headers = HTTPHeaders([
            ("host", host), ("content-type", "application/json"), ("content-length", "\(body.count)"),
        ])
        context.write(
            wrapOutboundOut(.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers))),
            promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status.code
        case .body(var part):
            buffer.writeBuffer(&part)
            if stream != nil && status == 200 { deliverLines(context) }
        case .end:
            finish(context)
        }
    }

    /// The gateway writes a watch as JSON objects separated by newlines.
    private func deliverLines(_ context: ChannelHandlerContext) {
        while !done, let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffer.readerIndex
            guard let line = buffer.readBytes(length: length) else { return }
            buffer.moveReaderIndex(forwardBy: 1)
            if !line.isEmpty && stream?(Data(line)) == false {
                done = true
                promise.fail(EtcdClient.Failure(description: "watch ended by the reader"))
                context.close(promise: nil)
            }
        }
    }

    private func finish(_ context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        let data = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        guard status == 200 else {
            return promise.fail(
                EtcdClient.Failure(description: "HTTP \(status): \(String(decoding: data, as: UTF8.self))"))
        }
        promise.succeed(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        promise.fail(EtcdClient.Failure(description: "connection closed"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done {
            done = true
            promise.fail(error)
        }
        context.close(promise: nil)
    }
}
