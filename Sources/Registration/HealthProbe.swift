import HTTPClients
import NIOCore
import NIOPosix

/// One check of the local app: a TCP connect, or an HTTP GET whose status (and body) must match.
public struct HealthProbe: Sendable {
    public enum Kind: Sendable {
        case tcp
        /// `expectStatus` nil accepts any 2xx.
        case http(path: String, expectStatus: Int?, bodyContains: String?)
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

    /// Succeeds with whether the app passed; never fails.
    func run(on eventLoop: any EventLoop, client: MesherHTTPClient) -> EventLoopFuture<Bool> {
        switch kind {
        case .tcp:
            return connect(on: eventLoop)
        case .http(let path, let expectStatus, let bodyContains):
            // A redirect is the app's answer (judged by its status), never followed.
            let authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            return client.get(
                "http://\(authority)\(path)",
                headers: [("user-agent", "mesher-health-check"), ("connection", "close")],
                deadline: .now() + timeout, keepingAtMost: Self.maxBody, on: eventLoop
            ).map { reply in
                let statusOK = expectStatus.map { $0 == reply.status } ?? (200..<300).contains(reply.status)
                let bodyOK = bodyContains.map { String(buffer: reply.body).contains($0) } ?? true
                return statusOK && bodyOK
            }.recover { _ in false }
        }
    }

    /// Passes when the app accepts a connection within the timeout.
    private func connect(on eventLoop: any EventLoop) -> EventLoopFuture<Bool> {
        ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .connect(host: host, port: port)
            .flatMap { channel in channel.close().map { true }.recover { _ in true } }
            .recover { _ in false }
    }
}
