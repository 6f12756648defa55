import Foundation
import Testing

/// The app (uid 1000) changes nothing: `mesher init` captures its outbound TCP and `mesher run` relays it.
@Suite(.serialized)
struct OutboundCaptureTests {
    let peer = Lab.fixtures.appendingPathComponent("peer.py").path

    @Test func httpGetIsCapturedAndRelayed() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.captureWithMesher()

        let get = try lab.inClient(["curl", "-sS", "-m", "10", "http://\(lab.serverIPv4):8080/hello.txt"])
        #expect(get.status == 0, "\(get.stderr)")
        #expect(get.stdout == "hello from the server\n")

        // Proof of capture: the REDIRECT rule counted the SYN and Mesher logged the original destination.
        let counted = try lab.natRules(counters: true).split(separator: "\n").first {
            $0.contains("REDIRECT --to-ports 15001")
        }
        #expect(counted?.hasPrefix("[0:") == false, "REDIRECT rule never matched: \(counted ?? "missing")")
        #expect(
            lab.accessLogHas {
                $0.contains(#""dst":"\#(lab.serverIPv4):8080""#) && $0.contains(#""src":"\#(lab.clientIPv4):"#)
                    && $0.contains(#""proto":"http""#) && $0.contains(#""result":"ok""#)
            }, "access log: \(lab.accessLog())")
    }

    @Test func ipv6IsCapturedToo() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.captureWithMesher()
        let get = try lab.inClient(["curl", "-sS", "-m", "10", "http://[\(lab.serverIPv6)]:8080/hello.txt"])
        #expect(get.stdout == "hello from the server\n", "\(get.stderr)")
        #expect(
            lab.accessLogHas { $0.contains(#""dst":"[\#(lab.serverIPv6)]:8080""#) && $0.contains(#""result":"ok""#) })
    }

    @Test func twentyMegabytesArriveByteIdenticalBothWays() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.captureWithMesher()
        let blob = lab.dir.appendingPathComponent("www/blob.bin")
        try sh(["dd", "if=/dev/urandom", "of=\(blob.path)", "bs=1000000", "count=20", "status=none"]).check("dd")
        chmod(blob.path, 0o644)
        let expected = try sh(["sha256sum", blob.path]).check("sha256sum").stdout.prefix(64)

        // Download: a real HTTP server and client.
        let downloaded = lab.dir.appendingPathComponent("app/blob.bin").path
        let get = try lab.inClient([
            "curl", "-sS", "-m", "60", "-o", downloaded, "http://\(lab.serverIPv4):8080/blob.bin",
        ])
        #expect(get.status == 0, "\(get.stderr)")
        #expect(try sh(["sha256sum", downloaded]).stdout.prefix(64) == expected)

        // Upload: the server hashes what it received.
        let upload = try lab.inClient([
            "/usr/bin/python3", peer, "upload", lab.serverIPv4, "\(Lab.peerBase + 1)", blob.path,
        ])
        #expect(upload.stdout == "\(expected) 20000000\n", "\(upload.stderr)")
        #expect(lab.accessLogHas { $0.contains(#""up":20000000"#) }, "access log should count the 20 MB upload")
    }

    @Test func halfCloseStillDeliversTheWholeReply() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.captureWithMesher()
        // The client sends 8 MiB and shuts its write side; only then does the server send 32 MiB.
        let result = try lab.inClient(["/usr/bin/python3", peer, "halfclose", lab.serverIPv4, "\(Lab.peerBase + 2)"])
        #expect(result.stdout == "\(32 << 20) match\n", "\(result.stderr)")
        #expect(lab.accessLogHas { $0.contains(#""up":\#(8 << 20)"#) && $0.contains(#""down":\#(32 << 20)"#) })
    }

    /// The server sends 64 MiB to an app that reads nothing for 3 s: Mesher must stop reading from the server
    /// (backpressure) instead of queueing the difference in memory.
    @Test func slowReaderDoesNotMakeMesherBuffer() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let proxy = try lab.captureWithMesher()
        let before = try Self.residentKiB(proxy.processIdentifier)
        let reader = try lab.spawn(
            in: lab.client, uid: Lab.appUID,
            ["/usr/bin/python3", peer, "stall", lab.serverIPv4, "\(Lab.peerBase + 4)", "3"], log: "stall")
        usleep(2_000_000)
        let during = try Self.residentKiB(proxy.processIdentifier)
        reader.waitUntilExit()
        #expect(lab.log("stall") == "\(64 << 20)\n", "the stalled reader must still get everything")
        #expect(during - before < 16 * 1024, "Mesher grew by \((during - before) / 1024) MiB while the reader stalled")
    }

    static func residentKiB(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    @Test func serverFirstProtocolWorks() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.captureWithMesher()
        let result = try lab.inClient(
            ["/usr/bin/python3", peer, "banner", lab.serverIPv4, "\(Lab.peerBase)"], timeout: 20)
        #expect(result.stdout == "220 mesher-e2e ready | 250 HELO mesher\n", "\(result.stderr)")
        // The client said nothing, so the sniff window ended and the connection went through as TCP.
        #expect(
            lab.accessLogHas {
                $0.contains(#""dst":"\#(lab.serverIPv4):\#(Lab.peerBase)""#) && $0.contains(#""proto":"tcp""#)
            })
    }

    /// A server-first protocol on a port not known to be one (MariaDB on a port of its own, say): the first
    /// connection waits out the sniff window (50 ms); Mesher remembers the destination, and the next ones get
    /// their banner at once.
    @Test func serverFirstDestinationIsLearnt() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.captureWithMesher()
        let result = try lab.inClient(
            ["/usr/bin/python3", peer, "bannertimes", lab.serverIPv4, "\(Lab.peerBase)", "5"], timeout: 30)
        let times = result.stdout.split(separator: " ").compactMap {
            Double($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard times.count == 5, let first = times.first else {
            Issue.record("no banner times: \(result.stdout) \(result.stderr)")
            return
        }
        let later = times.dropFirst().sorted()
        let median = later[later.startIndex + later.count / 2]
        #expect(first >= 45, "the first connection waits out the sniff window: \(times)")
        // Every event loop learns it, so the second connection is quick whichever loop takes it.
        #expect(times[1] + 25 < first && median + 25 < first, "later connections skip the window: \(times)")
        // Each is relayed as TCP (logged when it ends, which may be just after the client saw the end).
        let relayed = { lab.accessLog().filter { $0.contains(#""dst":"\#(lab.serverIPv4):\#(Lab.peerBase)""#) } }
        for _ in 0..<100 where relayed().count < 5 { usleep(50_000) }
        #expect(relayed().count == 5 && relayed().allSatisfy { $0.contains(#""proto":"tcp""#) }, "\(relayed())")
    }

    @Test func tlsPassesThroughUntouchedAndItsServerNameIsLogged() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let key = lab.dir.appendingPathComponent("tls.key").path
        let certificate = lab.dir.appendingPathComponent("tls.crt").path
        try sh([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=api.mesher.test",
            "-keyout", key, "-out", certificate,
        ]).check("openssl req")
        try lab.spawn(
            in: lab.server, ["openssl", "s_server", "-accept", "8443", "-cert", certificate, "-key", key, "-www"],
            log: "tls")
        try lab.waitForListener(in: lab.server, port: 8443)
        try lab.captureWithMesher()
        let get = try lab.inClient([
            "curl", "-sS", "-m", "10", "--cacert", certificate, "--resolve", "api.mesher.test:8443:\(lab.serverIPv4)",
            "https://api.mesher.test:8443/",
        ])
        #expect(get.status == 0, "certificate verification end to end means the bytes were untouched: \(get.stderr)")
        #expect(get.stdout.contains("s_server"))
        #expect(
            lab.accessLogHas {
                $0.contains(#""proto":"tls","sni":"api.mesher.test""#) && $0.contains(#""result":"ok""#)
            },
            "\(lab.accessLog())")
    }

    @Test func capturedTrafficFailsWhileMesherIsDownAndFlowsDirectAfterUninstall() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let url = "http://\(lab.serverIPv4):8080/hello.txt"
        try lab.mesherCommand(["init"]).check("mesher init")
        // Rules in place, no proxy: REDIRECT mode is fail-closed, which proves capture is on.
        let refused = try lab.inClient(["curl", "-sS", "-m", "5", url])
        #expect(refused.status == 7, "expected 'connection refused' (curl exit 7): \(refused.stderr)")

        try lab.mesherCommand(["uninstall"]).check("mesher uninstall")
        #expect(try !lab.natRules().contains("MESHER"))
        #expect(try !lab.natRules(ipv6: true).contains("MESHER"))
        let direct = try lab.inClient(["curl", "-sS", "-m", "5", url])
        #expect(direct.stdout == "hello from the server\n", "\(direct.stderr)")
    }

    @Test func refusedUpstreamResetsATCPClient() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.captureWithMesher()
        // Not HTTP (the client waits for a banner): Mesher can only say "no" by resetting the connection.
        let result = try lab.inClient(["/usr/bin/python3", peer, "banner", lab.serverIPv4, "9"], timeout: 20)
        #expect(result.status != 0)
        #expect(
            result.stderr.contains("ConnectionResetError") || result.stderr.contains("ConnectionRefusedError"),
            "\(result.stderr)")
        #expect(lab.accessLogHas { $0.contains(#""result":"connect-refused""#) })
        #expect(lab.log("mesher").contains("warning"))
    }

    @Test func directConnectionToTheListenerIsRefused() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.captureWithMesher()
        let result = try lab.inClient(["curl", "-sS", "-m", "5", "http://127.0.0.1:15001/"])
        #expect(Self.wasReset(result), "expected a reset, got \(result.status): \(result.stderr)")
        #expect(lab.accessLogHas { $0.contains(#""result":"no-original-destination""#) })
    }

    /// A reset right after the handshake reaches curl either as a failed connect (exit 7) or as a failed
    /// receive (56), depending on which it noticed first; a hang would be a timeout (28).
    static func wasReset(_ result: CommandResult) -> Bool {
        (result.status == 56 && result.stderr.contains("reset")) || result.status == 7
    }

    @Test func sigtermDrainsOpenConnectionsThenExits() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let proxy = try lab.captureWithMesher()
        // A conversation of 2 s is in flight when SIGTERM arrives after 0.5 s: it must finish.
        let holder = try lab.spawn(
            in: lab.client, uid: Lab.appUID,
            ["/usr/bin/python3", peer, "hold", lab.serverIPv4, "\(Lab.peerBase + 3)", "2"], log: "hold")
        usleep(500_000)
        kill(proxy.processIdentifier, SIGTERM)
        usleep(300_000)
        let late = try lab.inClient(["curl", "-sS", "-m", "3", "http://\(lab.serverIPv4):8080/hello.txt"])
        #expect(late.status == 7, "a new connection after SIGTERM must not be accepted: \(late.stderr)")
        holder.waitUntilExit()
        #expect(holder.terminationStatus == 0)
        let answers =
            Int(lab.log("hold").split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        #expect(answers >= 15, "the held connection lost answers during drain: \(lab.log("hold"))")
        #expect(lab.stop(proxy) == 0, "mesher should exit 0 once drained: \(lab.log("mesher"))")
        #expect(lab.log("mesher").contains("shutting down"))
    }

    /// On SIGTERM an idle keep-alive HTTP connection is closed at once (not at the drain timeout), and Mesher
    /// exits as soon as its last connection is gone.
    @Test func sigtermClosesIdleKeepAliveConnectionsAtOnce() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let proxy = try lab.captureWithMesher()
        let idle = try lab.spawn(
            in: lab.client, uid: Lab.appUID, ["/usr/bin/python3", peer, "idle", lab.serverIPv4, "8080", "10"],
            log: "idle")
        usleep(700_000)
        let signalled = Date()
        let status = lab.stop(proxy)
        let exitedAfter = Date().timeIntervalSince(signalled)
        idle.waitUntilExit()
        let line = lab.log("idle")
        #expect(line.hasPrefix("HTTP/1.1 200 OK | closed after"), "\(line)")
        let closedAfter = Double(line.split(separator: " ").dropLast().last ?? "") ?? 99
        // The response came within the first 0.7 s, the drain began then; the default drain timeout is 5 s.
        #expect(closedAfter < 2.5, "the idle connection waited for the drain timeout: \(line)")
        #expect(status == 0 && exitedAfter < 3, "mesher took \(exitedAfter) s to drain: \(lab.log("mesher"))")
        #expect(
            lab.accessLogHas { $0.contains(#""proto":"http""#) && $0.contains(#""result":"drained""#) },
            "\(lab.accessLog())")
    }
}
