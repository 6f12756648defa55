import Foundation
import NIOCore

/// How `EtcdClient` reaches etcd's JSON gateway: the HTTP(S) client behind it lives in the HTTPClients module,
/// so that this module (and the fuzzers of its parsers) build without an HTTP client and TLS.
public protocol EtcdTransport: Sendable {
    /// POSTs JSON to `url`; the body of a 200 reply, read within `timeout` and a size bound, else a failure
    /// that says what went wrong (the status and the start of the body, for another status).
    func post(_ url: String, json: Data, timeout: TimeAmount, on eventLoop: any EventLoop) -> EventLoopFuture<Data>

    /// POSTs JSON to `url` and hands each line of a 200 reply to `onLine` as it arrives, until the stream ends
    /// (the future succeeds) or `onLine` returns false (it fails).
    func stream(
        _ url: String, json: Data, on eventLoop: any EventLoop, onLine: @escaping @Sendable (Data) -> Bool
    ) -> EventLoopFuture<Void>
}

/// Just enough of etcd's v3 API, through its JSON gateway (`POST /v3/...`, keys and values in base64):
/// unary calls, each to the first endpoint that answers, and a watch as one long response of JSON lines.
struct EtcdClient: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Base URLs like `https://10.0.0.5:2379`.
    let endpoints: [String]
    let transport: any EtcdTransport
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
            transport.post(endpoints[index] + path, json: json, timeout: timeout, on: eventLoop).flatMapError {
                error in
                index + 1 < endpoints.count ? attempt(index + 1) : eventLoop.makeFailedFuture(error)
            }
        }
        return endpoints.isEmpty ? eventLoop.makeFailedFuture(Failure(description: "no etcd endpoint")) : attempt(0)
    }

    /// Streams the watch's responses to `onMessage` until the stream ends (then the future completes);
    /// `onMessage` returning false ends it.
    func watch(
        _ body: [String: String], endpoint: Int, onMessage: @escaping @Sendable (Data) -> Bool
    ) -> EventLoopFuture<Void> {
        guard !endpoints.isEmpty else { return group.next().makeFailedFuture(Failure(description: "no etcd endpoint")) }
        let json = (try? JSONEncoder().encode(["create_request": body])) ?? Data()
        return transport.stream(
            endpoints[endpoint % endpoints.count] + "/v3/watch", json: json, on: group.next(), onLine: onMessage)
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
