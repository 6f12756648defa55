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
