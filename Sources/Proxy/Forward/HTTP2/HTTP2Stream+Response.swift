import MesherBase
import NIOCore
import NIOHPACK
import NIOHTTP2
import Routing

extension HTTP2Stream: HTTP2UpstreamReceiver {
    func upstreamConnected() {
        guard let call, let upstream = call.upstream else { return }
        attach(call, upstream)
    }

    func upstreamConnectFailed(_ error: any Error) {
        guard let call else { return }
        connectFailed(call, error)
    }

    func upstreamHeaders(_ headers: HPACKHeaders, endStream: Bool) {
        guard let call, !isClosed else { return }
        if call.responseStatus != nil {
            // Trailers: a gRPC call's status is here.
            if call.isGRPC { call.grpcStatus = GRPCCall.status(headers) }
            settle(call)
            write(.headers(.init(headers: headers, endStream: true)))
            return finish(call)
        }
        let status = headers.first(name: ":status").flatMap { Int($0) } ?? 0
        if (100..<200).contains(status) {
            return write(.headers(.init(headers: headers)))
        }
        call.tryDeadline?.cancel()
        call.tryDeadline = nil
        // A trailers-only response carries a gRPC call's status in its headers.
        if call.isGRPC && endStream { call.grpcStatus = GRPCCall.status(headers) }
        if let condition = retryCondition(call, status: status), retry(call, condition) { return }
        call.cancelTimers()
        call.responseStatus = status
        machine.responseStarted()
        if !call.isGRPC || endStream { settle(call) }
        write(.headers(.init(headers: headers, endStream: endStream)))
        if endStream { finish(call) }
    }

    /// Whether this answer is one the policy sends again: a status it retries, or UNAVAILABLE for gRPC.
    private func retryCondition(_ call: HTTP2Call, status: Int) -> RetryCondition? {
        if call.grpcStatus == GRPCCall.unavailable, call.route.lease?.policy.retryOn.contains(.unavailable) == true {
            return .unavailable
        }
        return call.retry?.retries(status: status, from: call.route)
    }

    /// The instance's answer is known: the balancer and the outlier detection learn of it (a gRPC call by
    /// its status, as the HTTP status it stands for).
    private func settle(_ call: HTTP2Call) {
        guard let lease = call.route.lease else { return }
        let status = call.grpcStatus.map(GRPCCall.httpEquivalent) ?? call.responseStatus ?? 0
        let event = lease.answered(status: status, now: NIODeadline.now().uptimeNanoseconds)
        RequestRetry.report(event, of: lease, logger: logger, metrics: forward.metrics)
    }

    func upstreamData(_ data: ByteBuffer, endStream: Bool) {
        guard let call, !isClosed else { return }
        write(.data(.init(data: .byteBuffer(data), endStream: endStream)))
        if endStream {
            settle(call)
            return finish(call)
        }
        pauseUpstreamIfNeeded()
    }

    func upstreamReadComplete() {
        server.flush()
    }

    func upstreamWritable() {
        releaseBody()
    }

    func upstreamFailed(_ failure: HTTP2UpstreamStream.Failure) {
        guard let call else { return }
        call.upstream = nil
        if call.responseStatus != nil {
            // Part of the response is with the client: the stream is reset, the client sees it cut.
            chargeFailure(call)
            logCall(call, status: call.responseStatus ?? 0, error: MesherAnswer.upstreamReset.errorName)
            self.call = nil
            reset()
            return
        }
        switch failure {
        case .refused where retry(call, .connectFailure): return
        case .reset where call.isGRPC && retry(call, .unavailable): return
        case .reset where retry(call, .reset): return
        default: break
        }
        chargeFailure(call)
        answer(call, .upstreamReset)
    }

    /// Sends the request to another instance when it can go again: its parts kept, nothing of a response
    /// forwarded, and the policy, its tries and its budget allow.
    func retry(_ call: HTTP2Call, _ condition: RetryCondition) -> Bool {
        guard let replay = call.replay, call.responseStatus == nil,
            let next = call.retry?.next(after: call.route, condition)
        else { return false }
        call.upstream?.cancel()
        call.upstream = nil
        call.grpcStatus = nil
        call.queued = replay
        resend(call, to: next)
        return true
    }

    /// The instance broke the call before answering (or not in time): a failure towards its ejection.
    func chargeFailure(_ call: HTTP2Call) {
        guard let lease = call.route.lease else { return }
        RequestRetry.report(
            lease.failed(now: NIODeadline.now().uptimeNanoseconds), of: lease, logger: logger, metrics: forward.metrics)
    }
}
