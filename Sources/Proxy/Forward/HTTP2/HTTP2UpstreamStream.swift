import NIOCore
import NIOHPACK
import NIOHTTP2

/// Where an upstream stream's response goes (the client's stream).
protocol HTTP2UpstreamReceiver: AnyObject {
    /// The connection is up: the request may go.
    func upstreamConnected()
    /// The connection never came up.
    func upstreamConnectFailed(_ error: any Error)
    func upstreamHeaders(_ headers: HPACKHeaders, endStream: Bool)
    func upstreamData(_ data: ByteBuffer, endStream: Bool)
    func upstreamReadComplete()
    /// The stream takes more of the request.
    func upstreamWritable()
    /// The stream ended before its response did.
    func upstreamFailed(_ failure: HTTP2UpstreamStream.Failure)
}

/// One request's stream on a multiplexed upstream connection, an entry in the connection's table (no channel
/// of its own): writes the request, hands the response to its receiver, and opens the instance's window only
/// while the receiver's client takes what came (so the instance's window, not Mesher's memory, holds a slow
/// client's response). One attempt of a request: once cancelled, nothing of it reaches the receiver again.
final class HTTP2UpstreamStream {
    enum Failure: Equatable {
        /// The instance refused the stream (REFUSED_STREAM, or above a GOAWAY's last stream): it did nothing
        /// with the request.
        case refused
        /// Reset, or the connection went, with the request possibly begun.
        case reset
    }

    /// Request bytes the stream may have on their way before it reads as not writable.
    static let maxInFlight = 64 * 1024

    /// Set until the response ends or the stream is given up.
    private(set) var receiver: (any HTTP2UpstreamReceiver)?
    private let connection: HTTP2UpstreamConnection
    /// Given when the request's headers go out (stream ids must rise in the order streams begin).
    private(set) var id: HTTP2StreamID?
    /// The request's headers went out: its next parts follow directly.
    var started: Bool { id != nil }
    private var window: ReceiveWindow
    private var unreleased = 0
    private var paused = false
    private var inFlight = 0
    private var requestEnded = false
    private var responseEnded = false
    /// Frames of it came in the connection's current read (its receiver hears of the read's end once).
    var inRead = false
    /// Closed, cancelled or never connected: no longer counted on its connection.
    private var finished = false

    init(receiver: any HTTP2UpstreamReceiver, connection: HTTP2UpstreamConnection) {
        self.receiver = receiver
        self.connection = connection
        window = ReceiveWindow(target: connection.streamWindow, initial: connection.streamWindow)
    }

    var isWritable: Bool { inFlight < Self.maxInFlight && connection.isWritable }

    func send(_ payload: HTTP2Frame.FramePayload) {
        guard !finished else { return }
        let id = self.id ?? connection.register(self)
        self.id = id
        switch payload {
        case .headers(let headers) where headers.endStream: requestEnded = true
        case .data(let data) where data.endStream: requestEnded = true
        default: break
        }
        guard case .data(let data) = payload, data.data.readableBytes > 0 else {
            return connection.write(HTTP2Frame(streamID: id, payload: payload))
        }
        let bytes = data.data.readableBytes
        inFlight += bytes
        let sent = connection.eventLoop.makePromise(of: Void.self)
        sent.futureResult.assumeIsolated().whenComplete { [self] _ in
            let wasWritable = isWritable
            inFlight -= bytes
            if !wasWritable && isWritable { receiver?.upstreamWritable() }
        }
        connection.write(HTTP2Frame(streamID: id, payload: payload), promise: sent)
    }

    func flush() { connection.flush() }

    /// The request is no longer wanted: the stream is reset (CANCEL) if it began and is still open (one whose
    /// request and response both ended is closed by nio-http2 already).
    func cancel() {
        receiver = nil
        guard !finished, !(requestEnded && responseEnded) else { return }
        if let id {
            connection.write(HTTP2Frame(streamID: id, payload: .rstStream(.cancel)))
            connection.flush()
        } else {
            finish()
        }
    }

    func pauseReading() { paused = true }

    func resumeReading() {
        paused = false
        release()
        connection.flush()
    }

    /// Opens the instance's window by what the client took.
    private func release() {
        guard unreleased > 0, !paused, !responseEnded, !finished, let id else { return }
        if let increment = window.release(unreleased) {
            connection.write(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: increment)))
        }
        unreleased = 0
    }

    // MARK: - From the connection

    func connected() { receiver?.upstreamConnected() }

    func connectFailed(_ error: any Error) {
        finish()
        let receiver = receiver
        self.receiver = nil
        receiver?.upstreamConnectFailed(error)
    }

    func receivedHeaders(_ headers: HTTP2Frame.FramePayload.Headers) {
        if headers.endStream { responseEnded = true }
        receiver?.upstreamHeaders(headers.headers, endStream: headers.endStream)
        if responseEnded { receiver = nil }
    }

    func receivedData(_ data: HTTP2Frame.FramePayload.Data, length: Int) {
        window.received(length)
        unreleased += length
        if data.endStream { responseEnded = true }
        if case .byteBuffer(let buffer) = data.data { receiver?.upstreamData(buffer, endStream: data.endStream) }
        if responseEnded { receiver = nil }
        release()
    }

    func readComplete() {
        inRead = false
        receiver?.upstreamReadComplete()
    }

    func writable() {
        if isWritable { receiver?.upstreamWritable() }
    }

    /// nio-http2 closed the stream (or the connection went): a response not ended failed.
    func closed(reason: HTTP2ErrorCode?) {
        finish()
        let receiver = receiver
        self.receiver = nil
        guard !responseEnded else { return }
        receiver?.upstreamFailed(reason == .refusedStream ? .refused : .reset)
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        connection.release()
    }
}
