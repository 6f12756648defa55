import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Just enough of etcd's JSON gateway on 127.0.0.1 for the discovery side: `/v3/kv/range` answers what the
/// test set, `/v3/watch` opens a stream the test can write to or end.
final class FakeEtcd: Sendable {
    struct Reply: Sendable {
        var status: HTTPResponseStatus = .ok
        var body: String
        /// Close the connection instead of answering.
        var hangUp = false
    }

    let port: Int
    private let listener: any Channel
    private let shared: SharedState

    fileprivate struct State {
        var range: Reply
        var rangeRequests = 0
        var watches: [any Channel] = []
        var watchRequests = 0
    }

    private init(port: Int, listener: any Channel, shared: SharedState) {
        self.port = port
        self.listener = listener
        self.shared = shared
    }

    static func start(range: Reply) async throws -> FakeEtcd {
        let shared = SharedState(State(range: range))
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(FakeEtcdHandler(shared: shared))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = listener.localAddress?.port else { throw ChannelError.unknownLocalAddress }
        return FakeEtcd(port: port, listener: listener, shared: shared)
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    var rangeRequests: Int { shared.state.withLock { $0.rangeRequests } }
    /// Watches opened so far (each read of everything is followed by one).
    var watchRequests: Int { shared.state.withLock { $0.watchRequests } }

    func setRange(_ reply: Reply) {
        shared.state.withLock { $0.range = reply }
    }

    /// Writes a line to every open watch stream.
    func sendOnWatches(_ line: String) {
        for channel in shared.state.withLock({ $0.watches }) {
            channel.writeAndFlush(
                HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: line + "\n"))), promise: nil)
        }
    }

    func endWatches() {
        for channel in shared.state.withLock({ $0.watches }) { channel.close(promise: nil) }
    }

    func close() async throws {
        endWatches()
        try await listener.close()
    }

    /// A range reply as etcd writes it: base64 keys and values, int64 as strings.
    /// `more`: says that more keys follow (whatever the request asked).
    static func rangeBody(revision: Int, _ instances: [(key: String, json: String)], more: Bool = false) -> String {
        let kvs = instances.map {
            #"{"key":"\#(Data($0.key.utf8).base64EncodedString())","value":"\#(Data($0.json.utf8).base64EncodedString())","mod_revision":"\#(revision)"}"#
        }
        return #"{"header":{"cluster_id":"1","member_id":"2","revision":"\#(revision)","raft_term":"2"}"#
            + (kvs.isEmpty ? "" : #","kvs":[\#(kvs.joined(separator: ","))],"count":"\#(kvs.count)""#)
            + (more ? #","more":true"# : "") + "}"
    }

    static func instance(_ address: String, _ port: Int) -> (key: String, json: String) {
        (
            "/mesher/services/AccountService/\(address):\(port)",
            #"{"service":"AccountService","address":"\#(address)","port":\#(port),"status":"up"}"#
        )
    }
}

private final class SharedState: Sendable {
    let state: Mutex<FakeEtcd.State>
    init(_ state: FakeEtcd.State) { self.state = Mutex(state) }
}

private final class FakeEtcdHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let shared: SharedState
    private var uri = ""

    init(shared: SharedState) { self.shared = shared }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): uri = head.uri
        case .body: break
        case .end: respond(context)
        }
    }

    private func respond(_ context: ChannelHandlerContext) {
        switch uri {
        case "/v3/watch":
            shared.state.withLock {
                $0.watches.append(context.channel)
                $0.watchRequests += 1
            }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok))), promise: nil)
            let created = #"{"result":{"header":{"revision":"1"},"created":true}}"# + "\n"
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: created)))), promise: nil)
        case "/v3/kv/range":
            let reply = shared.state.withLock { state in
                state.rangeRequests += 1
                return state.range
            }
            guard !reply.hangUp else { return context.close(promise: nil) }
            answer(context, reply.status, reply.body)
        default:
            answer(context, .ok, #"{"header":{"revision":"1"}}"#)
        }
    }

    private func answer(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ body: String) {
        let headers = HTTPHeaders([("content-length", "\(body.utf8.count)"), ("content-type", "application/json")])
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
