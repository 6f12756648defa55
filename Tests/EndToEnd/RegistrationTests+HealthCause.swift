import Foundation
import Testing

/// The health check probes the instance where callers reach it, and an instance that stays down says why: in
/// the provider's log, `/ready`, `/clusters` and `mesher status`.
extension RegistrationTests {
    /// A provider whose health check is `healthCheck`, for the app on port 7100 of the server host.
    func provider(_ lab: Lab, healthCheck: String) throws -> String {
        try lab.writeConfig(
            """
            registry: {directory: \(lab.registryDirectory)}
            service:
              name: AccountService
              ports: [7100]
              address: \(lab.serverIPv4)
              healthCheck: \(healthCheck)
            """, name: "provider.yaml")
    }

    func registered(_ lab: Lab) -> String {
        let file = lab.registryDirectory + "/AccountService-\(lab.serverIPv4)-7100.yaml"
        return (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
    }

    /// An app that listens on its pod address only (not 127.0.0.1) comes up: probed where callers reach it.
    @Test func appListeningOnItsAddressOnlyComesUp() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let app = try lab.spawn(
            in: lab.server,
            [
                "/usr/bin/python3", Lab.fixtures.appendingPathComponent("peer.py").path, "http", lab.serverIPv4, "7100",
                "alpha",
            ],
            log: "app")
        try lab.waitForListener(in: lab.server, port: 7100, process: app)
        try lab.startProviderMesher([
            "--config", provider(lab, healthCheck: "{kind: http, path: /who, interval: 200ms}"),
        ])
        #expect(
            lab.eventually(timeout: 5) { registered(lab).contains("status: up") },
            "\(registered(lab)) \(lab.log("provider-mesher").suffix(1500))")
        let ready = try lab.inServer(["curl", "-sS", "-m", "5", "http://127.0.0.1:15000/ready"])
        #expect(ready.stdout == "ready\n", "\(ready)")
    }

    /// An app answering 500: the instance stays down, and the provider says why, once per 10 s while the cause
    /// stays the same and at once when it changes (the app gone: connection refused).
    @Test func failingHealthCheckSaysWhy() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let app = try lab.spawn(
            in: lab.server,
            ["/usr/bin/python3", Lab.fixtures.appendingPathComponent("echo.py").path, lab.serverIPv4, "7100", "beta"],
            log: "app")
        try lab.waitForListener(in: lab.server, port: 7100, process: app)
        try lab.startProviderMesher([
            "--config", provider(lab, healthCheck: "{kind: http, path: '/health?fail=beta', interval: 200ms}"),
        ])
        func causeLines(_ cause: String) -> Int {
            lab.log("provider-mesher").split(separator: "\n").filter {
                $0.contains("health check failed") && $0.contains(cause)
            }.count
        }
        #expect(
            lab.eventually(timeout: 5) { causeLines("status 500") == 1 }, "\(lab.log("provider-mesher").suffix(1500))")
        usleep(2_000_000)
        #expect(causeLines("status 500") == 1, "rate-limited: 10 failed probes, one line")
        #expect(registered(lab).contains("status: down"))

        let ready = try lab.inServer(["curl", "-sS", "-m", "5", "-w", "%{http_code}", "http://127.0.0.1:15000/ready"])
        #expect(ready.stdout.contains("status 500") && ready.stdout.hasSuffix("503"), "\(ready)")
        let clusters = try lab.inServer(["curl", "-sS", "-m", "5", "http://127.0.0.1:15000/clusters"]).stdout
        #expect(clusters.contains(#""healthCheckFailure" : "status 500""#), "\(clusters)")
        let status = try lab.inServer([Lab.mesherBinary, "status", "--interval", "0.2"])
        #expect(
            status.stdout.contains("accountservice \(lab.serverIPv4):7100 down: status 500"),
            "\(status.stdout)\(status.stderr)")

        kill(app.processIdentifier, SIGKILL)
        app.waitUntilExit()
        let refused = "connect refused \(lab.serverIPv4):7100"
        #expect(
            lab.eventually(timeout: 3) { causeLines(refused) == 1 }, "\(lab.log("provider-mesher").suffix(1500))")
        let later = try lab.inServer(["curl", "-sS", "-m", "5", "http://127.0.0.1:15000/ready"]).stdout
        #expect(later.contains(refused), "\(later)")
    }
}
