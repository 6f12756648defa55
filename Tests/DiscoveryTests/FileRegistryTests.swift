import Foundation
import Logging
import Testing

@testable import Discovery

struct RegistryFileTests {
    @Test func parsesServicesAndInstances() throws {
        let snapshot = try RegistryFile.parse(
            """
            services:
              AccountService:
                - {address: 198.18.0.2, port: 8080, version: 1.0.0, tags: {zone: a}}
                - {address: "2001:db8::2", port: 8081}
              StoreWeb:
                - {address: 198.18.0.3, port: 80}
            """, source: "a.yaml"
        ).snapshot
        let instances = snapshot.instances(of: "AccountService")
        #expect(snapshot.services.values.map(\.count).reduce(0, +) == 3)
        #expect(
            instances[0]
                == ServiceInstance(
                    service: "AccountService", address: "198.18.0.2", port: 8080, version: "1.0.0", tags: ["zone": "a"])
        )
        #expect(instances[1].address == "2001:db8::2")
        #expect(snapshot.instances(of: "accountservice").count == 2)
        #expect(snapshot.instances(of: "ACCOUNTSERVICE").count == 2)
    }

    @Test(arguments: [
        (
            "services:\n  A:\n    - {address: nowhere, port: 80}\n",
            "3:8: services.A[0].address: not an IP address"
        ),
        ("services:\n  A:\n    - {address: 198.18.0.2, port: 0}\n", "3:29: services.A[0].port: must be 1-65535"),
        ("services:\n  A:\n    - {address: 198.18.0.2}\n", "3:7: services.A[0].port: required field missing"),
        ("services:\n  'bad name':\n    - {address: 198.18.0.2, port: 1}\n", "not a valid service name"),
        ("services: [1, 2]\n", "1:1: services: expected a mapping"),
        ("services:\n  A: [\n", "3:1: invalid YAML: did not find expected node content"),
        // Found by FuzzRegistryFile: a tag named "" parsed, but its rendered file did not.
        (
            "services:\n  A:\n    - {address: 198.18.0.2, port: 1, tags: {&x : a}}\n",
            "A[0].tags: a tag name must not be"
        ),
        ("services:\n  A:\n    - {address: 198.18.0.2, port: 1, tags: {&one: a}}\n", "tags: a tag name must not be"),
    ])
    func rejectsBadFiles(_ text: String, _ message: String) {
        #expect {
            try RegistryFile.parse(text, source: "bad.yaml")
        } throws: { error in
            "\(error)".hasPrefix("bad.yaml:") && "\(error)".contains(message)
        }
    }
}

/// What a provider's Mesher writes, the others read back unchanged: line breaks, control characters and quotes in
/// its fields, and tag names that are numbers or booleans when plain (FuzzRegistryFile: "8" was not found again).
@Test func renderedInstanceReadsBack() throws {
    let instance = ServiceInstance(
        service: "Account-2", address: "2001:db8::2", port: 65535, version: "1.0\nbeta\r\n", app: "tab\there \u{1}",
        environment: "\u{85}\u{2028}\u{2029}\u{FEFF}\u{7F}\u{9F}\0",
        tags: [
            "zone": "é 漢 🚀", "quote\"": "back\\slash ", " ": "", "8": "eight", "yes": "", "~": "", "1.5e3": "",
            "0x1F": "", "2001-12-14 21:59:43.10 -5": "",
        ],
        isUp: false)
    let content = try RegistryFile.parse(
        RegistryFile.render(instance, heartbeat: 1.5, ttl: 10), source: "rendered.yaml")
    #expect(content.listings == [RegistryFile.Listing(instance: instance, heartbeat: 1.5, ttl: 10)])
}

/// A tag name whose written form runs past YAML's 1,024-character limit on implicit keys (FuzzRegistryFile: line
/// breaks, each escaped in four characters) still reads back, and so does one just under the limit.
@Test func longTagNamesReadBack() throws {
    for name in [
        String(repeating: "\n", count: 300), String(repeating: "k", count: 1100), String(repeating: "k", count: 990),
    ] {
        let instance = ServiceInstance(service: "ce", address: "198.18.0.2", port: 8080, tags: [name: "v", "8": ""])
        let rendered = RegistryFile.render(instance, heartbeat: 1.5, ttl: 10)
        let content = try RegistryFile.parse(rendered, source: "rendered.yaml")
        #expect(content.listings == [RegistryFile.Listing(instance: instance, heartbeat: 1.5, ttl: 10)], "\(rendered)")
    }
}

struct FileRegistryTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mesher-registry-\(UUID())").path

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }

    func registry() -> FileRegistry {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return FileRegistry(directory: directory, logger: logger)
    }

    @Test func picksUpAddedChangedAndRemovedFiles() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try write("a.yaml", "services:\n  AccountService:\n    - {address: 198.18.0.2, port: 8080}\n")
        let registry = registry()
        #expect(registry.snapshot.instances(of: "AccountService").map(\.port) == [8080])

        try write("b.yml", "services:\n  AccountService:\n    - {address: 198.18.0.3, port: 8080}\n")
        #expect(registry.rescan())
        #expect(registry.snapshot.instances(of: "AccountService").map(\.address) == ["198.18.0.2", "198.18.0.3"])
        #expect(!registry.rescan(), "nothing changed")

        try FileManager.default.removeItem(atPath: directory + "/a.yaml")
        #expect(registry.rescan())
        #expect(registry.snapshot.instances(of: "AccountService").map(\.address) == ["198.18.0.3"])
    }

    @Test func brokenFileKeepsItsLastGoodContentAndOthersStillCount() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try write("a.yaml", "services:\n  AccountService:\n    - {address: 198.18.0.2, port: 8080}\n")
        try write("b.yaml", "services:\n  StoreWeb:\n    - {address: 198.18.0.4, port: 80}\n")
        let registry = registry()
        try write("a.yaml", "services:\n  AccountService:\n    - {address: 198.18.0.2, port: eighty}\n")
        registry.rescan()
        #expect(registry.snapshot.instances(of: "AccountService").map(\.port) == [8080])
        #expect(registry.snapshot.instances(of: "StoreWeb").count == 1)
        try write("a.yaml", "services:\n  AccountService:\n    - {address: 198.18.0.2, port: 9090}\n")
        registry.rescan()
        #expect(registry.snapshot.instances(of: "AccountService").map(\.port) == [9090])
    }

    @Test func missingDirectoryIsAnEmptyRegistry() {
        #expect(registry().snapshot == RegistrySnapshot())
    }
}
