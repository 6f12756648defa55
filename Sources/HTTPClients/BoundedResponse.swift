import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// Reads a reply with its body bounded: whole (over `limit` fails: no answer of etcd is that large), the first
/// `limit` bytes (a health page: the rest is read and dropped), or line by line as it arrives (a watch; a line
/// over `limit` fails).
/// AsyncHTTPClient calls it on the one event loop the request was given (`.delegate(on:)`), hence unchecked.
final class BoundedResponse: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = HTTPReply

    enum Reading {
        case whole
        case prefix
        /// `onLine` returning false ends the stream. Lines are handed over only for a 200.
        case lines(onLine: @Sendable (ByteBuffer) -> Bool)
    }

    private let limit: Int
    private let reading: Reading
    private var status = 0
    private var headers = HTTPHeaders()
    private var body = ByteBuffer()

    init(limit: Int, reading: Reading) {
        self.limit = limit
        self.reading = reading
    }

    func didReceiveHead(task: HTTPClient.Task<HTTPReply>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        status = Int(head.status.code)
        headers = head.headers
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<HTTPReply>, _ part: ByteBuffer) -> EventLoopFuture<Void> {
        var part = part
        switch reading {
        case .lines(let onLine) where status == 200:
            body.writeBuffer(&part)
            while let newline = body.readableBytesView.firstIndex(of: UInt8(ascii: "\n")),
                let line = body.readSlice(length: newline - body.readerIndex)
            {
                body.moveReaderIndex(forwardBy: 1)
                guard line.readableBytes == 0 || onLine(line) else {
                    return task.eventLoop.makeFailedFuture(HTTPClientFailure(description: "stream ended by its reader"))
                }
            }
            body.discardReadBytes()
        case .prefix:
            if let kept = part.readSlice(length: min(part.readableBytes, limit - body.readableBytes)) {
                var kept = kept
                body.writeBuffer(&kept)
            }
            return task.eventLoop.makeSucceededVoidFuture()
        case .whole, .lines:
            body.writeBuffer(&part)
        }
        guard body.readableBytes <= limit else {
            return task.eventLoop.makeFailedFuture(
                HTTPClientFailure(description: "reply larger than \(limit) bytes, not read further"))
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<HTTPReply>) throws -> HTTPReply {
        HTTPReply(status: status, headers: headers, body: body)
    }
}
