import HTTP1
import MesherBase
import NIOCore
import NIOHPACK
import NIOHTTP2
import Routing

/// One client stream's request, from its headers to the end of its response (an `HTTPExchange` for HTTP/2).
final class HTTP2Call {
    /// A part of the request after its headers.
    enum Part {
        case data(ByteBuffer)
        case trailers(HPACKHeaders)
        case end
    }

    let request: HTTP1Head
    let authority: String?
    /// `content-type: application/grpc…`: its answers are gRPC statuses, its status comes in trailers.
    let isGRPC: Bool
    /// `grpc-timeout`, in nanoseconds.
    let grpcTimeout: UInt64?
    let started = NIODeadline.now()
    var route: Routed
    var retry: RequestRetry?
    var ruleName: String?
    var trace: HopTrace?
    /// The headers as they go upstream, sent again on a retry.
    var upstreamHeaders = HPACKHeaders()
    /// The same as an HTTP/1 head, for an instance that speaks only HTTP/1.
    var upstreamHTTP1Head = ByteBuffer()
    var upstream: (any HTTP2CallUpstream)?
    /// Request parts read while no stream took them.
    var queued: [Part] = []
    /// The final response's status, once its headers went to the client.
    var responseStatus: Int?
    var grpcStatus: Int?
    var requestBytes = 0
    var responseBytes = 0
    /// The request's deadline (`requestTimeout`, or an earlier `grpc-timeout`), and the try's.
    var deadline: Scheduled<Void>?
    var tryDeadline: Scheduled<Void>?

    /// Whether the request may be sent again, with its parts so far.
    private(set) var replayable: Bool
    private var replayParts: [Part] = []
    private var replayBytes = 0
    private let retryBodyLimit: Int

    init(request: HTTP1Head, authority: String?, headers: HPACKHeaders, route: Routed, policy: TrafficPolicy) {
        self.request = request
        self.authority = authority
        self.route = route
        isGRPC = GRPCCall.isGRPC(headers)
        grpcTimeout = isGRPC ? GRPCCall.timeout(headers) : nil
        retryBodyLimit = policy.retryBodyLimit
        // gRPC calls are POSTs: sent again only where the policy says UNAVAILABLE may be.
        replayable =
            (request.hasIdempotentMethod || isGRPC && policy.retryOn.contains(.unavailable))
            && (request.contentLength ?? 0) <= retryBodyLimit
    }

    /// The parts to send again; `nil` when the request may not be.
    var replay: [Part]? { replayable ? replayParts : nil }

    func keepForRetry(_ part: Part) {
        guard replayable else { return }
        if case .data(let data) = part {
            replayBytes += data.readableBytes
            guard replayBytes <= retryBodyLimit else {
                replayable = false
                replayParts = []
                return
            }
        }
        replayParts.append(part)
    }

    func cancelTimers() {
        deadline?.cancel()
        deadline = nil
        tryDeadline?.cancel()
        tryDeadline = nil
    }

    /// The frame that carries `part` upstream.
    static func frame(_ part: Part) -> HTTP2Frame.FramePayload {
        switch part {
        case .data(let data): .data(.init(data: .byteBuffer(data)))
        case .trailers(let trailers): .headers(.init(headers: trailers, endStream: true))
        case .end: .data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))
        }
    }
}
