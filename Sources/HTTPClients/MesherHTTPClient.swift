import AsyncHTTPClient
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Mesher's own HTTP requests (etcd's JSON gateway, the app's health check): one AsyncHTTPClient on Mesher's
/// event loops, shut down with them. It follows no redirect and uses no proxy: a health check judges the app's
/// own answer, and etcd is reached directly. Every reply is read within a deadline and a size bound.
/// The client is made at the first request: a Mesher with a file registry and no HTTP health check never
/// runs (nor pages in) AsyncHTTPClient's code.
public final class MesherHTTPClient: Sendable {
    private let group: any EventLoopGroup
    private let made = NIOLockedValueBox<HTTPClient?>(nil)

    public init(group: any EventLoopGroup) {
        self.group = group
    }

    private var client: HTTPClient {
        made.withLockedValue { made in
            if let made { return made }
            var configuration = HTTPClient.Configuration(
                redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)), proxy: nil)
            // etcd's gateway and the apps' health pages are HTTP/1; no h2 negotiation over TLS.
            configuration.httpVersion = .http1Only
            let client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
            made = client
            return client
        }
    }

    /// Before the event loop group shuts down; requests still open fail.
    public func shutdown() async throws {
        try await made.withLockedValue { $0 }?.shutdown()
    }

    /// The same, for a caller that is not async (it must not run on one of the group's event loops).
    public func syncShutdown() throws {
        try made.withLockedValue { $0 }?.syncShutdown()
    }

    /// Sends `request` and reads the reply on `eventLoop` by `deadline` (connect, head and body; nil: no
    /// deadline, for a watch), its body within `limit` bytes as `reading` says.
    func execute(
        _ request: HTTPClient.Request, on eventLoop: any EventLoop, deadline: NIODeadline?, limit: Int,
        reading: BoundedResponse.Reading
    ) -> EventLoopFuture<HTTPReply> {
        let delegate = BoundedResponse(limit: limit, reading: reading)
        return client.execute(
            request: request, delegate: delegate, eventLoop: .delegate(on: eventLoop), deadline: deadline
        )
        .futureResult
    }
}

extension MesherHTTPClient {
    /// A GET whose reply must come by `deadline`; the first `limit` bytes of its body are kept.
    public func get(
        _ url: String, headers: [(String, String)], deadline: NIODeadline, keepingAtMost limit: Int,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<HTTPReply> {
        do {
            let request = try HTTPClient.Request(url: url, method: .GET, headers: HTTPHeaders(headers))
            return execute(request, on: eventLoop, deadline: deadline, limit: limit, reading: .prefix)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }
}

/// A reply: its status, its fields and (what was kept of) its body.
public struct HTTPReply: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: ByteBuffer
}

/// A reply larger than its bound, or a stream its reader ended.
struct HTTPClientFailure: Error, CustomStringConvertible {
    var description: String
}
