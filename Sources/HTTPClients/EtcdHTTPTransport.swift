import AsyncHTTPClient
import Discovery
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// etcd's JSON gateway over Mesher's HTTP client: plain HTTP, or HTTPS verified against the registry's CA, with
/// a client certificate when one is set (what etcd with `--client-cert-auth` requires).
public struct EtcdHTTPTransport: EtcdTransport {
    /// PEM files, as `registry.tls` names them.
    public struct TLSFiles: Sendable {
        public var ca: String?
        public var cert: String?
        public var key: String?

        public init(ca: String?, cert: String?, key: String?) {
            self.ca = ca
            self.cert = cert
            self.key = key
        }
    }

    /// No answer of etcd's that Mesher asks for comes near it (a range is read in pages of 500 keys), nor does
    /// one response of a watch (etcd sends at most its request size, 1.5 MiB by default, per response).
    static let maxReply = 4 << 20

    let client: MesherHTTPClient
    let tls: TLSConfiguration

    /// Reads the PEM files now: one that does not parse fails the start, naming the file.
    public init(client: MesherHTTPClient, tls files: TLSFiles?) throws {
        self.client = client
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = files?.ca { tls.trustRoots = .certificates(try Self.load(ca, NIOSSLCertificate.fromPEMFile)) }
        if let cert = files?.cert, let key = files?.key {
            tls.certificateChain = try Self.load(cert, NIOSSLCertificate.fromPEMFile).map { .certificate($0) }
            tls.privateKey = .privateKey(try Self.load(key) { try NIOSSLPrivateKey(file: $0, format: .pem) })
        }
        self.tls = tls
    }

    private static func load<T>(_ path: String, _ read: (String) throws -> T) throws -> T {
        do {
            return try read(path)
        } catch {
            throw HTTPClientFailure(description: "cannot load '\(path)' as PEM: \(error)")
        }
    }

    public func post(_ url: String, json: Data, timeout: TimeAmount, on eventLoop: any EventLoop)
        -> EventLoopFuture<Data>
    {
        send(url, json: json, on: eventLoop, deadline: .now() + timeout, reading: .whole).flatMapThrowing { reply in
            guard reply.status == 200 else { throw Self.unexpected(reply) }
            return Data(reply.body.readableBytesView)
        }
    }

    public func stream(
        _ url: String, json: Data, on eventLoop: any EventLoop, onLine: @escaping @Sendable (Data) -> Bool
    ) -> EventLoopFuture<Void> {
        // No deadline: a watch is open for as long as etcd has nothing to report.
        send(url, json: json, on: eventLoop, deadline: nil, reading: .lines { onLine(Data($0.readableBytesView)) })
            .flatMapThrowing { reply in
                guard reply.status == 200 else { throw Self.unexpected(reply) }
            }
    }

    private func send(
        _ url: String, json: Data, on eventLoop: any EventLoop, deadline: NIODeadline?, reading: BoundedResponse.Reading
    ) -> EventLoopFuture<HTTPReply> {
        do {
            let request = try HTTPClient.Request(
                url: url, method: .POST, headers: ["content-type": "application/json"], body: .data(json),
                tlsConfiguration: url.hasPrefix("https:") ? tls : nil)
            return client.execute(request, on: eventLoop, deadline: deadline, limit: Self.maxReply, reading: reading)
                .flatMapErrorThrowing { throw Self.explained($0, url: url) }
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    private static func unexpected(_ reply: HTTPReply) -> HTTPClientFailure {
        let start = String(decoding: reply.body.readableBytesView.prefix(200), as: UTF8.self)
        return HTTPClientFailure(description: "HTTP \(reply.status): \(start)")
    }

    /// A TLS failure says where to look: the rest are clear enough as they are.
    private static func explained(_ error: any Error, url: String) -> any Error {
        guard error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError else { return error }
        return HTTPClientFailure(
            description:
                "TLS with \(url) failed: \(error); check registry.tls: ca must have signed etcd's certificate, and "
                + "an etcd with --client-cert-auth needs cert and key")
    }
}
