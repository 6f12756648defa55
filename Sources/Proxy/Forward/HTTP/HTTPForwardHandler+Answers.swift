import Foundation
import HTTP1
import Limits
import NIOCore

extension HTTPForwardHandler {
    /// Mesher answers `exchange` itself: once the request is read (its body dropped), or at once when the
    /// client waits for `100 Continue` before sending a body that will never be wanted.
    func answer(_ exchange: HTTPExchange, _ answer: MesherAnswer) {
        exchange.cancelTimers()
        exchange.answer = answer
        exchange.queued = []
        exchange.upstream?.abandon()
        exchange.upstream = nil
        if let lease = exchange.route.lease { pool.dropUnwanted(lease.connections) }
        if machine.requestEnded || exchange.request.expectsContinue {
            finishAnswer(exchange)
        }
        readIfPending()
    }

    func finishAnswer(_ exchange: HTTPExchange) {
        guard let answer = exchange.answer, self.exchange === exchange else { return }
        let close =
            !exchange.request.keepAlive || clientIsDone || !machine.requestEnded || machine.drain == .quiescing
        write(
            answer.response(
                service: exchange.route.serviceName, keepAlive: !close, version: exchange.request.version,
                headOnly: exchange.request.isMethod("HEAD")))
        connection.logNotForwarded(answer, host: exchange.request.host)
        logExchange(exchange, status: answer.status.code, error: answer)
        self.exchange = nil
        endResponse(close: close)
    }

    /// A request that cannot be read (or not in time): answered, logged, and the connection closed, since
    /// nothing after it can be told apart reliably.
    func refuse(_ answer: MesherAnswer, request: HTTPExchange? = nil) {
        cancelHeadTimer()
        machine.refuse()
        input = nil
        if let exchange, exchange !== request {
            // A response is still under way for the request before: cut it off rather than mix the two.
            exchange.upstream?.abandon()
            self.exchange = nil
            return resetConnection()
        }
        connection.warnings.log(
            .badRequest, answer == .headerTimeout ? "request head timed out" : "bad HTTP request",
            metadata: [
                "src": "\(connection.channel.remoteAddress?.logText ?? "-")",
                "error": "\(answer.errorName)",
            ], to: logger)
        connection.record.fail(.reset)
        write(answer.response(service: nil, keepAlive: false, version: request?.request.version ?? .http11))
        if let request {
            logExchange(request, status: answer.status.code, error: answer)
        } else {
            forward.logRefusal(answer, on: connection)
        }
        closeConnection()
    }

    /// RST: the client learns at once that the response it was getting is broken.
    func resetConnection() {
        machine.refuse()
        guard let context else { return }
        Proxy.resetConnection(context.channel)
    }

    // MARK: - Access log

    /// The exchange is over: its one record feeds the metrics and the access log.
    func logExchange(_ exchange: HTTPExchange, status: Int, error: MesherAnswer?) {
        let nanoseconds = (NIODeadline.now() - exchange.started).nanoseconds
        if let metrics = forward.metrics {
            metrics.request(
                direction: connection.direction.rawValue, service: exchange.route.serviceName, status: status,
                nanoseconds: nanoseconds)
            if let error { metrics.answered(reason: error.errorName) }
        }
        guard let accessLog = forward.environment.accessLog else { return }
        let elapsed = Double(nanoseconds) / 1e9
        let request = exchange.request
        let line = RequestSummary(
            startTime: Date().timeIntervalSince1970 - elapsed,
            source: connection.channel.remoteAddress?.logText ?? "-",
            direction: connection.direction.rawValue, method: request.method,
            authority: Self.authority(of: request) ?? "-", path: request.target,
            service: exchange.route.serviceName, route: exchange.ruleName,
            upstream: exchange.route.address?.logText ?? "-", status: status,
            bytesUp: exchange.requestBytes, bytesDown: exchange.responseBytes,
            durationMilliseconds: elapsed * 1e3, error: error?.errorName, attempts: exchange.retry?.attempts ?? 1,
            trace: exchange.trace)
        accessLog.write(line: line.json)
    }

}

extension HTTPForwardContext {
    /// A request refused before Mesher made an exchange of it (its HTTP/1 head could not be read, its HTTP/2
    /// headers could not be taken): counted and logged, with what it named, if anything.
    func logRefusal(
        _ answer: MesherAnswer, on connection: DownstreamConnection, method: String = "-", authority: String = "-",
        path: String = "-", protocolName: String = "http"
    ) {
        if let metrics {
            metrics.request(
                direction: connection.direction.rawValue, service: nil, status: answer.status.code, nanoseconds: 0)
            metrics.answered(reason: answer.errorName)
        }
        guard let accessLog = environment.accessLog else { return }
        let line = RequestSummary(
            startTime: Date().timeIntervalSince1970,
            source: connection.channel.remoteAddress?.logText ?? "-",
            direction: connection.direction.rawValue, method: method, authority: authority, path: path, service: nil,
            upstream: "-", status: answer.status.code, bytesUp: 0, bytesDown: 0, durationMilliseconds: 0,
            error: answer.errorName, protocolName: protocolName)
        accessLog.write(line: line.json)
    }
}
