import Foundation
import Testing

/// The provider side: `mesher init` captures inbound TCP (PREROUTING) to the inbound listener, which hands
/// each connection to the app on the port the caller asked for.
@Suite(.serialized)
struct InboundCaptureTests {
    let peer = Lab.fixtures.appendingPathComponent("peer.py").path

    @Test func onlyTheProviderHasAMesher() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.startProviderMesher()
        let get = try lab.inClient(["curl", "-sS", "-m", "10", "http://\(lab.serverIPv4):8080/hello.txt"])
        #expect(get.stdout == "hello from the server\n", "\(get.stderr) \(lab.log("provider-mesher"))")
        #expect(
            lab.accessLogHas(lab.providerAccessLogPath) {
                $0.contains(#""dst":"\#(lab.serverIPv4):8080","dir":"inbound","proto":"http""#)
                    && $0.contains(#""src":"\#(lab.clientIPv4):"#)
            }, "\(lab.accessLog(lab.providerAccessLogPath))")
        let counted = try lab.natRules(counters: true, namespace: lab.server).split(separator: "\n")
            .first { $0.contains("--to-ports 15006") }
        #expect(counted?.hasPrefix("[0:") == false, "inbound REDIRECT never matched: \(counted ?? "missing")")
    }

    @Test func opaqueAndServerFirstTrafficPassesInbound() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.startProviderMesher()
        let banner = try lab.inClient(
            ["/usr/bin/python3", peer, "banner", lab.serverIPv4, "\(Lab.peerBase)"], timeout: 20)
        #expect(banner.stdout == "220 mesher-e2e ready | 250 HELO mesher\n", "\(banner.stderr)")
        let blob = lab.dir.appendingPathComponent("app/blob.bin").path
        try lab.inClient(["dd", "if=/dev/urandom", "of=\(blob)", "bs=1000000", "count=20", "status=none"]).check("dd")
        let expected = try sh(["sha256sum", blob]).check("sha256sum").stdout.prefix(64)
        let upload = try lab.inClient(["/usr/bin/python3", peer, "upload", lab.serverIPv4, "\(Lab.peerBase + 1)", blob])
        #expect(upload.stdout == "\(expected) 20000000\n", "\(upload.stderr)")
        #expect(lab.accessLogHas(lab.providerAccessLogPath) { $0.contains(#""dir":"inbound","proto":"tcp""#) })
    }

    /// Topology 2: consumer -> Mesher -> Mesher -> provider.
    @Test func bothSidesHaveAMesher() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.startProviderMesher()
        try lab.captureWithMesher()
        let get = try lab.inClient(["curl", "-sS", "-m", "10", "http://\(lab.serverIPv4):8080/hello.txt"])
        #expect(get.stdout == "hello from the server\n", "\(get.stderr)")
        #expect(lab.accessLogHas { $0.contains(#""dir":"outbound","proto":"http""#) })
        #expect(lab.accessLogHas(lab.providerAccessLogPath) { $0.contains(#""dir":"inbound","proto":"http""#) })
    }

    /// An app calling its own address goes out through the outbound listener; Mesher's connection back to
    /// the app is its own (uid 1337) and local, so it is not captured again: no loop.
    @Test func callingItselfDoesNotLoop() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.startProviderMesher()
        let get = try lab.inServer(["curl", "-sS", "-m", "10", "http://\(lab.serverIPv4):8080/hello.txt"])
        #expect(get.stdout == "hello from the server\n", "\(get.stderr)")
        #expect(lab.accessLogHas(lab.providerAccessLogPath) { $0.contains(#""dir":"outbound","proto":"http""#) })
        usleep(300_000)
        #expect(!lab.accessLog(lab.providerAccessLogPath).contains { $0.contains(#""dir":"inbound""#) })
    }
}
