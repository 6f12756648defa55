import HTTP1
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2

/// L7 forwarding of one client HTTP/2 stream, an entry in its connection's `HTTP2ServerHandler` table (no
/// channel of its own): its request is read through Mesher's HTTP/1 parser, routed like an HTTP/1 request
/// (rules, subsets, balancer, retries, timeouts, ejection), sent as a stream on a multiplexed upstream
/// connection, and its response (trailers too) streamed back. Each direction's window opens only as the other
/// side takes what came: flow control end to end, per stream.
final class HTTP2Stream {
    /// Where a stream is in its life: what the next frame from the client means, and whether its response
    /// has begun or ended. Pure: `HTTP2Stream` carries out what it says.
    struct Machine: Equatable {
        enum Request: Equatable {
            case awaitingHeaders
            case body
            case ended
        }
        enum Response: Equatable {
            case pending
            case started
            case ended
        }

        private(set) var request = Request.awaitingHeaders
        private(set) var response = Response.pending

        enum Inbound: Equatable {
            /// Headers of a new request.
            case begin
            case body
            case trailers
            /// A frame the stream cannot have now: ignored (nio-http2 has already checked the stream's states).
            case ignore
        }

        /// What a frame from the client is.
        mutating func received(headers: Bool, endStream: Bool) -> Inbound {
            let kind: Inbound
            switch (request, headers) {
            case (.awaitingHeaders, true): kind = .begin
            case (.body, true): kind = endStream ? .trailers : .ignore
            case (.body, false): kind = .body
            case (.awaitingHeaders, false), (.ended, _): return .ignore
            }
            request = endStream ? .ended : .body
            return kind
        }

        mutating func responseStarted() { response = .started }

        mutating func responseEnded() { response = .ended }

        /// Whether body bytes from the client may be let in again (their window opened): while the upstream
        /// takes them, or once the response ended (then they are dropped). Once the request ended, no window
        /// is announced any more.
        func releasesBody(upstreamTakes: Bool) -> Bool {
            request == .body && (upstreamTakes || response == .ended)
        }
    }

    let id: HTTP2StreamID
    let server: HTTP2ServerHandler
    var connection: DownstreamConnection { server.connection }
    var forward: HTTPForwardContext { server.forward }
    var pool: HTTP2UpstreamPool { forward.http2Pool }
    var accepted: Accepted { server.accepted }
    var logger: Logger { forward.environment.logger }
    var eventLoop: any EventLoop { server.eventLoop }
    var machine = Machine()
    var call: HTTP2Call?
    /// The request's plan, until the connection's read is done (the read batch of `HTTP2ServerHandler`).
    var held: RoutePlan?
    /// Response bytes written to the client and not yet on their way (its window is closed).
    var buffered = StreamBuffer()
    /// The client's window on this stream, and the body bytes passed on but not yet released.
    var window: ReceiveWindow
    private var unreleased = 0
    /// Parts of the request went upstream in the connection's current read (flushed once at its end).
    var sentInRead = false
    /// nio-http2 closed the stream (both ends done, or reset): nothing more goes out on it.
    private(set) var isClosed = false

    init(id: HTTP2StreamID, server: HTTP2ServerHandler) {
        self.id = id
        self.server = server
        let size = server.forward.environment.settings.http2.streamWindow
        window = ReceiveWindow(target: size, initial: size)
    }

    // MARK: - Frames from the client

    func receivedHeaders(_ headers: HTTP2Frame.FramePayload.Headers) {
        connection.record.activity &+= 1
        switch machine.received(headers: true, endStream: headers.endStream) {
        case .begin:
            begin(headers.headers, endStream: headers.endStream)
            if headers.endStream { requestPart(.end) }
        case .trailers: requestPart(.trailers(headers.headers))
        case .body, .ignore: break
        }
    }

    func receivedData(_ data: HTTP2Frame.FramePayload.Data, length: Int) {
        connection.record.activity &+= 1
        window.received(length)
        unreleased += length
        guard machine.received(headers: false, endStream: data.endStream) == .body,
            case .byteBuffer(let buffer) = data.data
        else { return }
        if buffer.readableBytes > 0 { requestPart(.data(buffer)) }
        if data.endStream { requestPart(.end) }
        releaseBody()
    }

    /// Lets the client send more of its body once the upstream takes it (or it is dropped).
    func releaseBody() {
        guard unreleased > 0, !isClosed else { return }
        let upstreamTakes = call.map { $0.upstream?.isWritable ?? false } ?? true
        guard machine.releasesBody(upstreamTakes: upstreamTakes) else { return }
        if let increment = window.release(unreleased) {
            server.write(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: increment)))
            server.flush()
        }
        unreleased = 0
    }

    func flushUpstream() {
        sentInRead = false
        call?.upstream?.flush()
    }

    /// The connection may take writes again.
    func connectionWritable() {
        resumeUpstreamIfAllowed()
        releaseBody()
    }

    /// The client reset the stream (RST_STREAM): whether it had work under way (which counts against its
    /// reset budget).
    func resetByClient() -> Bool { call != nil || held != nil }

    /// nio-http2 closed the stream: after its response, or reset (then the upstream stream is reset too).
    func closed() {
        isClosed = true
        buffered.stopWaiting()
        if let call, machine.response != .ended {
            call.cancelTimers()
            call.upstream?.cancel()
            call.upstream = nil
            logCall(call, status: call.responseStatus ?? 0, error: "client-reset")
        }
        call?.cancelTimers()
        call = nil
        held = nil
    }

    // MARK: - Writing to the client

    func write(_ payload: HTTP2Frame.FramePayload) {
        guard !isClosed else { return }
        guard case .data(let data) = payload, data.data.readableBytes > 0 else {
            return server.write(HTTP2Frame(streamID: id, payload: payload))
        }
        let bytes = data.data.readableBytes
        call?.responseBytes += bytes
        buffered.take(bytes, from: forward.environment.slowReaders)
        // nio-http2 completes a DATA frame's write when it leaves for the socket (the client's window let it):
        // what the stream holds until then counts against the budget of every connection.
        let written = eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenComplete { [self] _ in
            buffered.giveBack(bytes, to: forward.environment.slowReaders)
            resumeUpstreamIfAllowed()
        }
        server.write(HTTP2Frame(streamID: id, payload: payload), promise: written)
    }

    /// RST_STREAM (CANCEL), if the stream is still open.
    func reset() {
        guard !isClosed else { return }
        server.write(HTTP2Frame(streamID: id, payload: .rstStream(.cancel)))
        server.flush()
    }
}
