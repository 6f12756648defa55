import HTTPClients
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// One check of the local app: a TCP connect, or an HTTP GET whose status (and body) must match.
public struct HealthProbe: Sendable {
    public enum Kind: Sendable {
        case tcp
        /// `expectStatus` nil accepts any 2xx.
        case http(path: String, expectStatus: Int?, bodyContains: String?)
    }

    /// A probe's verdict; a failure says why, in words for people (`status 500`, `connect refused
    /// 198.18.0.2:8080`, `timeout`).
    public enum Outcome: Equatable, Sendable {
        case passed
        case failed(String)
    }

    /// Enough of a body to find a marker in; the rest is read and dropped.
    static let maxBody = 64 * 1024

    public var kind: Kind
    public var host: String
    public var port: Int
    public var timeout: TimeAmount

    public init(kind: Kind, host: String, port: Int, timeout: TimeAmount) {
        self.kind = kind
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    /// `host:port`, brackets around IPv6.
    public var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Never fails: an error is a failed probe, with its cause.
    func run(on eventLoop: any EventLoop, client: MesherHTTPClient) -> EventLoopFuture<Outcome> {
        let deadline = NIODeadline.now() + timeout
        switch kind {
        case .tcp:
            return ClientBootstrap(group: eventLoop)
                .connectTimeout(timeout)
                .connect(host: host, port: port)
                .flatMap { channel in channel.close().map { .passed }.recover { _ in .passed } }
                .recover { failed($0, deadline: deadline) }
        case .http(let path, let expectStatus, let bodyContains):
            // A redirect is the app's answer (judged by its status), never followed.
            return client.get(
                "http://\(authority)\(path)",
                headers: [("user-agent", "mesher-health-check"), ("connection", "close")],
                deadline: deadline, keepingAtMost: Self.maxBody, on: eventLoop
            ).map { reply in
                let statusOK = expectStatus.map { $0 == reply.status } ?? (200..<300).contains(reply.status)
                guard statusOK else {
                    return .failed("status \(reply.status)" + (expectStatus.map { " (expected \($0))" } ?? ""))
                }
                if let bodyContains, !String(buffer: reply.body).contains(bodyContains) {
                    return .failed("body without '\(bodyContains)'")
                }
                return .passed
            }.recover { failed($0, deadline: deadline) }
        }
    }

    private func failed(_ error: any Error, deadline: NIODeadline) -> Outcome {
        if Self.isRefused(error) { return .failed("connect refused \(authority)") }
        if NIODeadline.now() >= deadline { return .failed("timeout") }
        if case .connectTimeout = error as? ChannelError { return .failed("timeout") }
        return .failed("\(String(describing: error).prefix(200))")
    }

    /// ECONNREFUSED, alone or among the attempts of a connect by name.
    static func isRefused(_ error: any Error) -> Bool {
        if let error = error as? IOError { return error.errnoCode == ECONNREFUSED }
        if let error = error as? NIOConnectionError { return error.connectionErrors.contains { isRefused($0.error) } }
        return false
    }
}
