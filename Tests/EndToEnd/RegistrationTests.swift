import Foundation
import Testing

/// The provider's Mesher registers its app in the registry directory (shared by both hosts here, as by
/// meshers on one machine), keeps it up or down by its health check and withdraws it on SIGTERM; the
/// consumer's Mesher routes by what the registry says.
@Suite(.serialized)
struct RegistrationTests {
    @Test func registeredHealthCheckedAndDeregistered() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        var app = try lab.startApp(name: "alpha", port: 7100)
        let provider = try lab.writeConfig(
            """
            registry: {directory: \(lab.registryDirectory)}
            service:
              name: AccountService
              version: 1.2.0
              app: bank
              ports: [7100]
              address: \(lab.serverIPv4)
              healthCheck: {kind: http, path: /who, bodyContains: alpha, interval: 200ms, timeout: 500ms, failureThreshold: 2}
            """, name: "provider.yaml")
        let consumer = try lab.writeConfig("registry: {directory: \(lab.registryDirectory)}\n", name: "consumer.yaml")
        let providerMesher = try lab.startProviderMesher(["--config", provider])
        try lab.mesherCommand(["init"]).check("mesher init")
        try lab.startMesher(["--config", consumer])

        let file = lab.registryDirectory + "/AccountService-\(lab.serverIPv4)-7100.yaml"
        func registered() -> String { (try? String(contentsOfFile: file, encoding: .utf8)) ?? "" }
        func call() throws -> CommandResult {
            try lab.inClient([
                "curl", "-sS", "-i", "-m", "10", "--connect-to", "::\(lab.serverIPv4):8080",
                "http://AccountService:8080/who",
            ])
        }
        func ready() throws -> String {
            try lab.inServer(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:15000/ready"])
                .stdout
        }

        #expect(lab.eventually { registered().contains("status: up") }, "\(registered()) \(lab.log("provider-mesher"))")
        #expect(registered().contains(#"version: "1.2.0""#) && registered().contains(#"app: "bank""#))
        #expect(
            lab.eventually { (try? call().stdout.contains("alpha /who")) ?? false }, "routed to the registered instance"
        )
        // Both Meshers counted themselves in the hop header.
        let hops = try call().stdout
        #expect(hops.contains(" hops=2\n"), "\(hops)")
        #expect(try ready() == "200")
        // Both Meshers saw the request: the consumer's outbound and the provider's inbound.
        #expect(lab.accessLogHas(lab.providerAccessLogPath) { $0.contains(#""dir":"inbound","proto":"http""#) })

        // The app stops: two failed checks mark it down, the consumer stops sending to it.
        kill(app.processIdentifier, SIGKILL)
        app.waitUntilExit()
        #expect(lab.eventually(timeout: 3) { registered().contains("status: down") }, "\(registered())")
        #expect(lab.eventually(timeout: 2) { (try? call().stdout.hasPrefix("HTTP/1.1 503")) ?? false })
        #expect(try ready() == "503")

        // And back.
        app = try lab.startApp(name: "alpha", port: 7100)
        #expect(lab.eventually(timeout: 3) { registered().contains("status: up") })
        #expect(lab.eventually(timeout: 2) { (try? call().stdout.contains("alpha /who")) ?? false })

        // SIGTERM: deregistered, then drained.
        #expect(lab.stop(providerMesher) == 0, "\(lab.log("provider-mesher"))")
        #expect(!FileManager.default.fileExists(atPath: file))
        #expect(lab.log("provider-mesher").contains("deregistered"))
    }

    /// A provider's Mesher that dies without deregistering (SIGKILL) leaves its instance file behind; its
    /// heartbeat stops, and consumers stop routing to it within the ttl (3 s here) and a second.
    @Test func killedProviderExpiresWithinItsTTL() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.startApp(name: "alpha", port: 7100)
        let provider = try lab.writeConfig(
            """
            registry: {directory: \(lab.registryDirectory), leaseTTL: 3s}
            service:
              name: AccountService
              ports: [7100]
              address: \(lab.serverIPv4)
              healthCheck: {kind: tcp, interval: 200ms}
            """, name: "provider.yaml")
        let consumer = try lab.writeConfig("registry: {directory: \(lab.registryDirectory)}\n", name: "consumer.yaml")
        let providerMesher = try lab.startProviderMesher(["--config", provider])
        try lab.mesherCommand(["init"]).check("mesher init")
        try lab.startMesher(["--config", consumer])

        let file = lab.registryDirectory + "/AccountService-\(lab.serverIPv4)-7100.yaml"
        func heartbeat() -> String {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            return text.components(separatedBy: "heartbeat: ").dropFirst().first?.prefix { $0 != "," }.description ?? ""
        }
        func call() throws -> String {
            try lab.inClient([
                "curl", "-sS", "-i", "-m", "5", "--connect-to", "::\(lab.serverIPv4):8080",
                "http://AccountService:8080/who",
            ]).stdout
        }
        #expect(lab.eventually { (try? call().contains("alpha /who")) ?? false }, "\(lab.log("provider-mesher"))")
        #expect((try? String(contentsOfFile: file, encoding: .utf8))?.contains("ttl: 3}") == true)

        // Alive: refreshed every ttl/3, so still routed after more than a ttl.
        let first = heartbeat()
        usleep(4_000_000)
        #expect(heartbeat() != first && !first.isEmpty, "refreshed: \(first) -> \(heartbeat())")
        #expect(try call().contains("alpha /who"))

        kill(providerMesher.processIdentifier, SIGKILL)
        providerMesher.waitUntilExit()
        let killed = Date()
        var answer = ""
        while Date().timeIntervalSince(killed) < 6 {
            answer = try call()
            if answer.hasPrefix("HTTP/1.1 503") { break }
            usleep(100_000)
        }
        let elapsed = Date().timeIntervalSince(killed)
        #expect(answer.lowercased().contains("x-mesher-error: no-healthy-instance"), "\(answer)")
        #expect(elapsed <= 4, "gone \(elapsed) s after the kill (ttl 3 s)")
        #expect(FileManager.default.fileExists(atPath: file), "nobody removed the file: it expired")
        #expect(lab.log("mesher").contains("registry instance expired"))
    }

    @Test func badServiceBlockIsRefusedWithItsField() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mesher-\(UUID()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "service:\n  name: AccountService\n  ports: [8080]\n  healthCheck: {kind: grpc}\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        let result = try sh([Lab.mesherBinary, "run", "--config", path])
        #expect(result.status == 2)
        #expect(
            result.stderr.contains("\(path):4: service.healthCheck.kind: 'grpc' is not one of tcp, http, none"),
            "\(result.stderr)")
    }
}
