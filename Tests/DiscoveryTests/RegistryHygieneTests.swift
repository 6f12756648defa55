import Foundation
import Testing

@testable import Discovery

/// Registry files may come from other writers (a shared volume): bounded in size, and what they contain
/// never reaches the log.
struct RegistryHygieneTests {
    let logs = LogRecorder()

    func registry(_ files: TemporaryRegistry) -> FileRegistry {
        FileRegistry(directory: files.directory, logger: logs.logger)
    }

    @Test func fileOverTheSizeCapIsRefusedAndKeepsItsLastGoodContent() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        try files.write("a.yaml", accountService)
        let registry = registry(files)

        let padding = String(repeating: "# padding\n", count: RegistryFile.maxSize / 10)
        try files.write("a.yaml", "services:\n  AccountService:\n    - {address: 198.18.0.2, port: 9090}\n" + padding)
        registry.rescan()
        registry.rescan()
        #expect(registry.snapshot.instances(of: "AccountService").map(\.port) == [8080])
        #expect(logs.count("registry file ignored") == 1, "\(logs.text)")
        #expect(logs.text.contains("file=\(files.directory)/a.yaml"))
        #expect(logs.text.contains("larger than 1048576 bytes"))

        // At the cap it is read.
        let body = "services:\n  AccountService:\n    - {address: 198.18.0.2, port: 9091}\n"
        try files.write("a.yaml", body + String(repeating: "#", count: RegistryFile.maxSize - body.utf8.count))
        registry.rescan()
        #expect(registry.snapshot.instances(of: "AccountService").map(\.port) == [9091])
    }

    @Test func readingStopsAtTheCapEvenWhenTheFileGrows() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        try files.write("big.yaml", String(repeating: "#", count: 3 * RegistryFile.maxSize))
        #expect(throws: RegistryReadError.tooLarge) {
            try PosixRegistryFileSystem().read(files.directory + "/big.yaml", limit: RegistryFile.maxSize)
        }
    }

    @Test func nonUTF8FileIsNamed() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        try files.write("a.yaml", accountService)
        let registry = registry(files)
        try files.write("a.yaml", bytes: Array("services:\n  A: []\n# ".utf8) + [0xff, 0xfe, 0x80])
        registry.rescan()
        #expect(registry.snapshot.instances(of: "AccountService").count == 1)
        let line = logs.lines.withLock { $0.first { $0.contains("registry file ignored") } } ?? ""
        #expect(line.contains("\(files.directory)/a.yaml: not UTF-8 text"), "\(line)")
        #expect {
            try RegistryFile.parse([0x41, 0xc3], source: "/r/x.yaml")
        } throws: { "\($0)" == "/r/x.yaml: not UTF-8 text" }
    }

    /// Each case hides "s3cr3t" where the problem is; the error says where, never what.
    @Test(arguments: [
        ("services:\n  A:\n    - {address: 198.18.0.2, port: 80, version: \"s3cr3t\n", "invalid YAML"),
        ("services:\n  A:\n    - {address: 198.18.0.2, port: 80}\n  s3cr3t: [\n  }\n", "invalid YAML"),
        ("services:\n  s3cr3t: []\n  s3cr3t: []\n", "duplicated key"),
        ("services:\n  \"s3cr3t value\": [{address: 198.18.0.2, port: 80}]\n", "not a valid service name"),
        ("services:\n  A: [{address: s3cr3t, port: 80}]\n", "services.A[0].address: not an IP address"),
        ("services:\n  A: [{address: 198.18.0.2, port: s3cr3t}]\n", "services.A[0].port: expected a whole number"),
        ("services:\n  \"s3cr3t value\": [{address: 198.18.0.2, port: s3cr3t}]\n", "services.?[0].port: expected"),
        ("services:\n  A: [{address: 198.18.0.2, port: 80, status: s3cr3t}]\n", "status: must be up or down"),
        ("services:\n  A: [{address: 198.18.0.2, port: 80, heartbeat: s3cr3t, ttl: 3}]\n", "heartbeat: expected"),
        ("\t s3cr3t\n", "invalid YAML"),
        ("s3cr3t: [\u{1}]\n", "invalid YAML"),
    ])
    func errorsSayWhereNotWhat(_ text: String, _ problem: String) throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        try files.write("a.yaml", text)
        _ = registry(files)
        #expect(!logs.text.contains("s3cr3t"), "\(logs.text)")
        #expect(logs.text.contains(problem), "\(logs.text)")
        #expect {
            try RegistryFile.parse(text, source: "a.yaml")
        } throws: { error in
            let description = "\(error)"
            return !description.contains("s3cr3t") && description.hasPrefix("a.yaml:")
        }
    }

    @Test func errorsCarryLineAndColumn() {
        #expect {
            try RegistryFile.parse(
                "services:\n  A:\n    - {address: 198.18.0.2, port: 80}\n    - {port: 81}\n", source: "a.yaml")
        } throws: { error in
            guard let error = error as? RegistryError else { return false }
            return error.line == 4 && error.column != nil
                && error.message == "services.A[1].address: required field missing"
        }
    }

    /// An entry at 0.0.0.0 would send every consumer's calls for its service into the consumer's own Mesher.
    @Test(arguments: ["0.0.0.0", "0.0.0.1", "'::'", "'::ffff:0.0.0.0'", "224.0.0.251", "'ff02::fb'", "255.255.255.255"])
    func addressesOfNoSingleHostAreRefusedWithTheirLine(_ address: String) {
        let text = "services:\n  A:\n    - {address: 198.18.0.2, port: 80}\n    - {address: \(address), port: 15000}\n"
        #expect {
            try RegistryFile.parse(text, source: "a.yaml")
        } throws: { error in
            guard let error = error as? RegistryError else { return false }
            return error.line == 4
                && error.message
                    == "services.A[1].address: not one host's address (unspecified, multicast or broadcast)"
        }
    }
}
