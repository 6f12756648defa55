import HTTP1
import NIOCore
import Testing

@testable import Proxy

struct HTTPExchangeTests {
    func exchange(_ head: String, bodyLimit: Int = 8) throws -> HTTPExchange {
        var parser = HTTP1HeadParser(role: .request, limits: ProxySettings().httpLimits)
        var buffer = ByteBuffer(string: head)
        guard case .head(let parsed) = parser.parse(&buffer) else { throw ChannelError.inappropriateOperationForState }
        let route = Routed.original(try SocketAddress(ipAddress: "198.18.0.2", port: 80))
        return HTTPExchange(request: parsed, route: route, kind: .plain, retryBodyLimit: bodyLimit)
    }

    /// An idempotent request's body is kept for a retry up to the limit, and not at all beyond it.
    @Test func bodyIsKeptForARetryUpToTheLimit() throws {
        let put = try exchange("PUT /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        put.keepForRetry(.body(ByteBuffer(string: "1234")))
        put.keepForRetry(.body(ByteBuffer(string: "5678")))
        #expect(put.replay?.count == 2, "8 bytes: within the limit")
        put.keepForRetry(.body(ByteBuffer(string: "9")))
        #expect(put.replay == nil, "9 bytes: never sent again")
        put.keepForRetry(.end(trailers: nil))
        #expect(put.replay == nil)
        let announced = try exchange("PUT /a HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n")
        #expect(announced.replay == nil, "announced larger than the limit: not kept from the start")
    }

    /// A POST is never kept: it is sent once, whatever the policy says.
    @Test func nonIdempotentRequestsAreNeverKept() throws {
        let post = try exchange("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n")
        #expect(post.replay == nil)
        let get = try exchange("GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        get.keepForRetry(.end(trailers: nil))
        #expect(get.replay?.count == 1)
    }
}
