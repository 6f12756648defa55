import Foundation
import Testing

/// `mesher run` refuses bad input with one line naming what is wrong, and exits 2.
struct RunCommandTests {
    @Test func badConfigFileNamesFieldAndLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mesher-\(UUID()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "connection:\n  connectTimeout: 5s\n  idleTimout: 1m\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        let result = try sh([Lab.mesherBinary, "run", "--config", path])
        #expect(result.status == 2)
        #expect(
            result.stderr
                == "mesher: \(path):3: connection.idleTimout: unknown field; expected one of connectTimeout, idleTimeout, bufferLimit, maxConnections\n"
        )
    }

    /// Converted to a UInt32 number of seconds, this value crashed Mesher at start.
    @Test func outOfRangeValueIsRefusedNotACrash() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mesher-\(UUID()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "dns:\n  ttl: 5000000000s\n".write(toFile: path, atomically: true, encoding: .utf8)
        let result = try sh([Lab.mesherBinary, "run", "--config", path])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr == "mesher: \(path):2: dns.ttl: must be at most 1h\n")
    }

    @Test func missingConfigFile() throws {
        let result = try sh([Lab.mesherBinary, "run", "--config", "/nonexistent/mesher.yaml"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("/nonexistent/mesher.yaml: cannot read"))
    }

    @Test func badLogLevel() throws {
        let result = try sh([Lab.mesherBinary, "run", "--log-level", "loud"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--log-level: 'loud'"))
    }

    @Test func injectRefusesYAMLItDoesNotUnderstandAndWritesNothing() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("inject-\(UUID()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "kind: Service\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: {name: p}\nspec: [1]\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        let result = try sh([Lab.mesherBinary, "inject", "-f", path])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "mesher: document 2: Pod p: spec is not a mapping\n", "\(result.stderr)")
    }
}
