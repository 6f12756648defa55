import Foundation
import Testing

/// `mesher run`'s lifecycle: a drain that loses no request, a quick exit when nothing is in flight,
/// `POST /quitquitquit`, `mesher await`, and the refusal to run against rules of the other capture mode.
@Suite(.serialized)
struct LifecycleTests {
    /// wrk keeps 8 keep-alive connections busy through nfqueue capture while Mesher gets SIGTERM: the gate
    /// stops marking (new connections go direct), each open connection gets `Connection: close` on its
    /// next response, and not one request fails.
    @Test func noRequestFailsAcrossASIGTERMUnderLoad() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.startApp(name: "drain", port: 9090)
        try lab.mesherCommand(["init", "--capture-mode", "nfqueue"]).check("mesher init")
        let config = try lab.writeConfig("capture: {mode: nfqueue}\ndrainTimeout: 10s\n", name: "nfqueue.yaml")
        let mesher = try lab.startMesher(["--config", config], netAdmin: true)
        let wrk = try lab.spawn(
            in: lab.client, uid: Lab.appUID,
            ["wrk", "-t", "2", "-c", "8", "-d", "6s", "http://\(lab.serverIPv4):9090/"], log: "wrk")
        usleep(1_500_000)
        let capturedBeforeStop = lab.accessLog().count
        let stopped = Date()
        #expect(lab.stop(mesher) == 0)
        let exitTime = Date().timeIntervalSince(stopped)
        wrk.waitUntilExit()

        let report = lab.log("wrk")
        #expect(capturedBeforeStop > 0, "captured while Mesher ran: \(lab.log("mesher").suffix(800))")
        #expect(report.contains("requests in"), "\(report)")
        let drain = lab.log("mesher").components(separatedBy: "shutting down").last ?? ""
        #expect(!report.contains("Socket errors"), "\(report)\n\(drain)")
        #expect(!report.contains("Non-2xx"), "\(report)")
        // In-flight requests finish in milliseconds: the exit waits neither for wrk to end its connections
        // (4.5 s later) nor for drainTimeout.
        #expect(exitTime < 2, "exit took \(exitTime) s")
        #expect(lab.log("mesher").contains("drained") || lab.accessLog().contains { $0.contains("drained") })
    }

    /// Idle keep-alive connections are closed at once: the exit takes well under a second.
    @Test func exitsWithinASecondWithOnlyIdleKeepAliveConnections() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.startApp(name: "idle", port: 9090)
        let mesher = try lab.captureWithMesher()
        // Five connections, one request each, then held open and idle for 20 s.
        let script = """
            import socket, sys, time
            conns = []
            for _ in range(5):
                s = socket.create_connection(("\(lab.serverIPv4)", 9090))
                s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
                conns.append(s)
            for s in conns:
                reply = b""
                while b"\\r\\n\\r\\n" not in reply:
                    reply += s.recv(4096)
                head, body = reply.split(b"\\r\\n\\r\\n", 1)
                assert head.startswith(b"HTTP/1.1 200"), "no answer"
                length = int(head.lower().split(b"content-length:")[1].split(b"\\r\\n")[0])
                while len(body) < length:
                    body += s.recv(4096)
            print("open", flush=True)
            closed = 0
            deadline = time.time() + 20
            for s in conns:
                s.settimeout(max(0.1, deadline - time.time()))
                try:
                    closed += s.recv(4096) == b""
                except OSError as error:
                    print("error", error, flush=True)
            print("closed", closed, flush=True)
            """
        let clients = try lab.spawn(
            in: lab.client, uid: Lab.appUID, ["/usr/bin/python3", "-c", script], log: "idle-clients")
        #expect(lab.eventually(timeout: 10) { lab.log("idle-clients").contains("open") }, "\(lab.log("idle-clients"))")
        let stopped = Date()
        #expect(lab.stop(mesher) == 0)
        let exitTime = Date().timeIntervalSince(stopped)
        clients.waitUntilExit()
        #expect(exitTime < 1, "exit took \(exitTime) s: \(lab.log("mesher").suffix(600))")
        #expect(lab.log("idle-clients").contains("closed 5"), "\(lab.log("idle-clients"))")
    }

    @Test func quitquitquitFromTheAppStopsMesherAndNotFromElsewhere() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let config = try lab.writeConfig("admin: {address: 0.0.0.0}\n", name: "admin.yaml")
        let mesher = try lab.startMesher(["--config", config])
        let remote = try lab.inServer([
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
            "http://\(lab.clientIPv4):15000/quitquitquit",
        ])
        #expect(remote.stdout == "403")
        #expect(mesher.isRunning)
        let local = try lab.inClient(["curl", "-s", "-X", "POST", "http://127.0.0.1:15000/quitquitquit"])
        #expect(local.stdout == "shutting down\n")
        #expect(lab.eventually(timeout: 3) { !mesher.isRunning }, "\(lab.log("mesher").suffix(600))")
        #expect(mesher.terminationStatus == 0)
        #expect(lab.log("mesher").contains("POST /quitquitquit"))
    }

    /// The app's command starts only once Mesher is ready, and its exit status is the app's.
    @Test func awaitRunsTheCommandOnceMesherIsReady() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let marker = lab.dir.appendingPathComponent("app/started").path
        let app = try lab.spawn(
            in: lab.client, uid: Lab.appUID,
            [lab.mesher, "await", "--", "sh", "-c", "touch \(marker); exit 7"], log: "await")
        usleep(700_000)
        #expect(!FileManager.default.fileExists(atPath: marker), "ran before Mesher was ready")
        #expect(app.isRunning)
        try lab.startMesher()
        #expect(lab.eventually(timeout: 5) { !app.isRunning }, "\(lab.log("await"))")
        #expect(app.terminationStatus == 7)
        #expect(FileManager.default.fileExists(atPath: marker))
        // Fail-open: without Mesher the command runs anyway after the timeout.
        let alone = try lab.inServer([lab.mesher, "await", "--timeout", "0.3", "--", "echo", "app"])
        #expect(alone.status == 0 && alone.stdout == "app\n")
        #expect(alone.stderr.contains("running the command anyway"), "\(alone.stderr)")
    }

    /// The command `mesher await` starts is usually the app itself: it waits for Mesher, not for the app's
    /// health check, which cannot pass before the app runs.
    @Test func awaitDoesNotWaitForTheAppsOwnHealth() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let config = try lab.writeConfig(
            """
            registry: {directory: \(lab.dir.appendingPathComponent("registry").path)}
            service: {name: NotYetUp, ports: [9099], address: 127.0.0.1, healthCheck: {kind: tcp, interval: 1s}}
            """, name: "provider.yaml")
        try lab.startMesher(["--config", config])
        let ready = try lab.inClient(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "127.0.0.1:15000/ready"])
        #expect(ready.stdout == "503")
        let started = Date()
        let app = try lab.inClient([lab.mesher, "await", "--", "echo", "app"])
        #expect(app.stdout == "app\n" && Date().timeIntervalSince(started) < 5, "\(app.stderr)")
        #expect(!app.stderr.contains("anyway"), "\(app.stderr)")
    }

    @Test func redirectModeRefusesRulesInstalledInNfqueueMode() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.mesherCommand(["init", "--capture-mode", "nfqueue"]).check("mesher init")
        let result = try lab.inClient([lab.mesher, "run"], uid: nil, timeout: 10)
        #expect(result.status == 2)
        #expect(
            result.stderr.contains("nfqueue mode") && result.stderr.contains("MESHER_CAPTURE_MODE=nfqueue"),
            "\(result.stderr)")
        // The other way round works, with a warning: redirect rules capture whether Mesher runs or not.
        try lab.mesherCommand(["init", "--capture-mode", "redirect"]).check("mesher init")
        let config = try lab.writeConfig("capture: {mode: nfqueue}\n", name: "nfqueue.yaml")
        let mesher = try lab.startMesher(["--config", config], netAdmin: true)
        #expect(lab.stop(mesher) == 0)
        #expect(lab.log("mesher").contains("does not make capture fail-open"), "\(lab.log("mesher").suffix(600))")
    }
}
