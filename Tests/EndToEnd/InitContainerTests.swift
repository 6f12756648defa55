import Foundation
import Testing

/// The init container's entry script, run directly in a namespace (there is no container engine here).
@Suite(.serialized)
struct InitContainerTests {
    static let repository = Lab.fixtures.deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let entrypoint = repository.appendingPathComponent("init-container/entrypoint.sh").path

    @Test func entryScriptAppliesWhatMesherInitApplies() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let environment = ["MESHER_EXCLUDE_OUTBOUND_PORTS=22", "MESHER_CAPTURE_DNS=true", "MESHER_BIN=\(lab.mesher)"]
        let result = try lab.inClient(["env"] + environment + ["/bin/sh", Self.entrypoint], uid: nil)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout.contains("-A MESHER_OUTPUT -p tcp -m multiport --dports 22 -j RETURN"),
            "logs the rules it applied")
        let fromScript = try lab.natRules()

        try lab.mesherCommand(["uninstall"]).check("uninstall")
        try lab.mesherCommand(["init", "--exclude-outbound-ports", "22", "--capture-dns"]).check("init")
        #expect(try lab.natRules() == fromScript)
    }

    @Test func entryScriptWithoutNetAdminSaysSo() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let result = try lab.inClient(["env", "MESHER_BIN=\(lab.mesher)", "/bin/sh", Self.entrypoint], uid: Lab.appUID)
        #expect(result.status == 1)
        #expect(result.stderr.contains("CAP_NET_ADMIN missing"), "\(result.stderr)")
    }

    /// No image is built here: check that what the Dockerfile copies is what the repository makes.
    @Test func dockerfileCopiesWhatTheBuildProduces() throws {
        let dockerfile = try String(
            contentsOf: Self.repository.appendingPathComponent("init-container/Dockerfile"), encoding: .utf8)
        let copies = dockerfile.split(separator: "\n").filter { $0.hasPrefix("COPY ") }
            .map { $0.split(separator: " ").map(String.init) }
        #expect(copies.map { $0[1] } == [".build/release/mesher", "init-container/entrypoint.sh"])
        #expect(FileManager.default.isExecutableFile(atPath: Self.entrypoint))
        let makefile = try String(contentsOf: Self.repository.appendingPathComponent("Makefile"), encoding: .utf8)
        #expect(
            makefile.contains("build -c release --static-swift-stdlib"),
            "make release builds .build/release/mesher statically")
        #expect(dockerfile.contains(#"ENTRYPOINT ["/usr/local/bin/mesher-init"]"#))
    }
}
