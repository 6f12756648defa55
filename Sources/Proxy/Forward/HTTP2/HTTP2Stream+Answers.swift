import Foundation
import NIOCore
import NIOHTTP2

extension HTTP2Stream {
    /// Mesher answers `call` itself, at once: a gRPC client gets a gRPC status, others an HTTP one.
    func answer(_ call: HTTP2Call, _ answer: MesherAnswer) {
        call.cancelTimers()
        call.queued = []
        call.upstream?.cancel()
        call.upstream = nil
        connection.logNotForwarded(answer, host: call.authority)
        let frames = HTTP2Messages.answer(
            answer, service: call.route.serviceName, grpc: call.isGRPC, headOnly: call.request.method == "HEAD",
            allocator: server.allocator)
        for frame in frames { write(frame) }
        if call.isGRPC { call.grpcStatus = GRPCCall.status(for: answer) }
        call.responseStatus = call.isGRPC ? 200 : answer.status.code
        logCall(call, status: answer.status.code, error: answer.errorName, answered: true)
        self.call = nil
        server.flush()
        endResponse()
    }

    /// The response went whole to the client.
    func finish(_ call: HTTP2Call) {
        call.cancelTimers()
        call.upstream = nil
        logCall(call, status: call.responseStatus ?? 0, error: nil)
        self.call = nil
        server.flush()
        endResponse()
    }

    /// The response is complete; what is still to come of the request is read and dropped (so that the
    /// client's window opens and its stream can end).
    func endResponse() {
        machine.responseEnded()
        releaseBody()
    }

    /// The call is over: its one record feeds the metrics and the access log. `answered`: Mesher answered it
    /// itself (counted by reason).
    func logCall(_ call: HTTP2Call, status: Int, error: String?, answered: Bool = false) {
        let nanoseconds = (NIODeadline.now() - call.started).nanoseconds
        if let metrics = forward.metrics {
            metrics.request(
                direction: connection.direction.rawValue, service: call.route.serviceName, status: status,
                nanoseconds: nanoseconds)
            if let grpcStatus = call.grpcStatus {
                metrics.grpcCall(
                    direction: connection.direction.rawValue, service: call.route.serviceName, status: grpcStatus)
            }
            if let error, answered { metrics.answered(reason: error) }
        }
        guard let accessLog = forward.environment.accessLog else { return }
        let elapsed = Double(nanoseconds) / 1e9
        let line = RequestSummary(
            startTime: Date().timeIntervalSince1970 - elapsed,
            source: connection.channel.remoteAddress?.logText ?? "-",
            direction: connection.direction.rawValue, method: call.request.method,
            authority: call.authority ?? "-", path: call.request.target,
            service: call.route.serviceName, route: call.ruleName,
            upstream: call.route.address?.logText ?? "-", status: status,
            bytesUp: call.requestBytes, bytesDown: call.responseBytes,
            durationMilliseconds: elapsed * 1e3, error: error, attempts: call.retry?.attempts ?? 1,
            trace: call.trace, protocolName: "h2", grpcStatus: call.grpcStatus)
        accessLog.write(line: line.json)
    }
}
