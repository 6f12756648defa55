import NIOCore
import NIOEmbedded
import Testing

@testable import Proxy

struct AcceptPolicyTests {
    @Test(
        arguments: [
            ("198.18.0.2", 15001, nil), ("198.18.0.2", 80, nil),
            ("127.0.0.2", 15001, ConnectionOutcome.loop), ("198.18.0.1", 15001, .loop), ("::1", 15001, .loop),
            // The unspecified addresses are this host to connect(), as loopback is; IPv4-mapped forms too.
            ("0.0.0.0", 15000, .loop), ("0.1.2.3", 30101, .loop), ("::", 15000, .loop),
            ("::ffff:0.0.0.0", 15000, .loop), ("::ffff:127.0.0.1", 15000, .loop), ("::ffff:198.18.0.1", 15001, .loop),
            ("0.0.0.0", 8080, nil), ("::2", 15000, nil), ("::ffff:198.18.0.2", 15000, nil),
        ] as [(String, Int, ConnectionOutcome?)])
    func refusesDestinationsThatAreMesherItself(_ host: String, _ port: Int, _ expected: ConnectionOutcome?) throws {
        let local = try SocketAddress(ipAddress: "127.0.0.1", port: 15001)
        #expect(testLoopGuard.refusal(for: try SocketAddress(ipAddress: host, port: port), local: local) == expected)
    }

    @Test func notRedirectedConnectionHasNoOriginalDestination() throws {
        let local = try SocketAddress(ipAddress: "127.0.0.1", port: 15001)
        #expect(testLoopGuard.refusal(for: local, local: local) == .noOriginalDestination)
    }

    /// The verdict for a connection whose original destination is `original`, on `listener`.
    func verdict(_ listener: ListenerKind, original: String, port: Int) throws -> AcceptVerdict {
        let channel = EmbeddedChannel()
        let destination = try SocketAddress(ipAddress: original, port: port)
        let policy = AcceptPolicy(listener: listener, loopGuard: testLoopGuard) {
            $0.eventLoop.makeSucceededFuture(destination)
        }
        return try policy.accept(channel).wait()
    }

    @Test func inboundGoesToThisHostOnly() throws {
        guard case .accepted(let accepted) = try verdict(.inbound, original: "198.18.0.1", port: 8080) else {
            Issue.record("this host's address was refused")
            return
        }
        #expect(accepted.direction == .inbound && accepted.original?.port == 8080)
        guard case .refused(.nonLocalDestination, _) = try verdict(.inbound, original: "198.18.0.9", port: 8080) else {
            Issue.record("another host's address was accepted inbound")
            return
        }
        guard case .refused(.nonLocalDestination, _) = try verdict(.inbound, original: "127.0.0.1", port: 8080) else {
            Issue.record("loopback was accepted inbound")
            return
        }
    }

    @Test func outboundMayGoAnywhereButMesher() throws {
        guard case .accepted = try verdict(.outbound, original: "198.18.0.9", port: 80) else {
            Issue.record("an outbound destination was refused")
            return
        }
        guard case .refused(.loop, _) = try verdict(.outbound, original: "127.0.0.1", port: 15006) else {
            Issue.record("Mesher's own port was accepted")
            return
        }
    }
}
