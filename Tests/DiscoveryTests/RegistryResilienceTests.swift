import Foundation
import Testing

@testable import Discovery

/// What cannot be read is never taken for "no instances": the registry keeps what it read last.
struct RegistryResilienceTests {
    let clock = FakeClock()
    let logs = LogRecorder()

    func registry(_ files: TemporaryRegistry, _ fileSystem: FaultyFileSystem = FaultyFileSystem()) -> FileRegistry {
        FileRegistry(
            directory: files.directory, leaseTTL: 3, fileSystem: fileSystem, clock: clock.source, logger: logs.logger)
    }

    @Test func removedDirectoryKeepsTheRegistry() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        try files.write("a.yaml", accountService)
        let registry = registry(files)
        let before = registry.snapshot
        #expect(before.instances(of: "AccountService").count == 1)

        files.remove()
        #expect(!registry.rescan())
        #expect(!registry.rescan())
        #expect(registry.snapshot == before)
        #expect(logs.count("registry directory unreadable") == 1, "once, not at every scan: \(logs.text)")

        // Back, with other content: read as usual.
        try FileManager.default.createDirectory(atPath: files.directory, withIntermediateDirectories: true)
        try files.write("b.yaml", "services:\n  StoreWeb:\n    - {address: 198.18.0.4, port: 80}\n")
        #expect(registry.rescan())
        #expect(registry.snapshot.instances(of: "AccountService").isEmpty)
        #expect(registry.snapshot.instances(of: "StoreWeb").count == 1)
        #expect(logs.count("registry directory readable again") == 1)
    }

    @Test(arguments: [EMFILE, EACCES, EIO])
    func unlistableDirectoryKeepsTheRegistry(_ code: Int32) throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        try files.write("a.yaml", accountService)
        let fileSystem = FaultyFileSystem()
        let registry = registry(files, fileSystem)
        let before = registry.snapshot

        fileSystem.faults.withLock { $0.list = code }
        try files.write("b.yaml", "services:\n  StoreWeb:\n    - {address: 198.18.0.4, port: 80}\n")
        for _ in 0..<3 { registry.rescan() }
        #expect(registry.snapshot == before)
        #expect(logs.count("registry directory unreadable") == 1)
        #expect(logs.text.contains("errno \(code)"), "\(logs.text)")

        fileSystem.faults.withLock { $0.list = nil }
        #expect(registry.rescan())
        #expect(registry.snapshot.instances(of: "StoreWeb").count == 1)
    }

    /// A file that cannot be read now keeps its last good content, and is read again at the next scan
    /// (not only once it changes again).
    @Test(arguments: [EMFILE, EACCES, EIO])
    func unreadableFileKeepsItsLastGoodContentAndIsReadAgain(_ code: Int32) throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        try files.write("a.yaml", accountService)
        try files.write("b.yaml", "services:\n  StoreWeb:\n    - {address: 198.18.0.4, port: 80}\n")
        let fileSystem = FaultyFileSystem()
        let registry = registry(files, fileSystem)

        fileSystem.faults.withLock { $0.read["a.yaml"] = code }
        try files.write("a.yaml", "services:\n  AccountService:\n    - {address: 198.18.0.2, port: 9090}\n")
        for _ in 0..<3 { registry.rescan() }
        #expect(registry.snapshot.instances(of: "AccountService").map(\.port) == [8080])
        #expect(registry.snapshot.instances(of: "StoreWeb").count == 1, "other files still count")
        #expect(logs.count("registry file ignored") == 1, "\(logs.text)")
        #expect(logs.text.contains("file=\(files.directory)/a.yaml"))

        fileSystem.faults.withLock { $0.read = [:] }
        #expect(registry.rescan())
        #expect(registry.snapshot.instances(of: "AccountService").map(\.port) == [9090])
        #expect(logs.count("registry file usable again") == 1)
    }

    @Test func fileThatCannotBeLookedAtKeepsItsContent() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        try files.write("a.yaml", accountService)
        let fileSystem = FaultyFileSystem()
        let registry = registry(files, fileSystem)
        fileSystem.faults.withLock { $0.stamp["a.yaml"] = EIO }
        #expect(!registry.rescan())
        #expect(registry.snapshot.instances(of: "AccountService").count == 1)
    }

    @Test func newFileThatCannotBeReadYetIsReadLater() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        let fileSystem = FaultyFileSystem()
        let registry = registry(files, fileSystem)
        fileSystem.faults.withLock { $0.read["a.yaml"] = EMFILE }
        try files.write("a.yaml", accountService)
        registry.rescan()
        registry.rescan()
        #expect(registry.snapshot.instances(of: "AccountService").isEmpty)
        #expect(logs.count("registry file ignored") == 1)
        fileSystem.faults.withLock { $0.read = [:] }
        #expect(registry.rescan())
        #expect(registry.snapshot.instances(of: "AccountService").count == 1)
    }

    /// Entries of a provider's Mesher do not expire while the registry cannot be read: nothing says their
    /// heartbeat stopped.
    @Test func heartbeatsDoNotExpireWhileTheDirectoryCannotBeListed() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        let fileSystem = FaultyFileSystem()
        let registry = registry(files, fileSystem)
        try registry.publish(ServiceInstance(service: "AccountService", address: "198.18.0.2", port: 8080))
        registry.rescan()
        #expect(registry.snapshot.instances(of: "AccountService").count == 1)

        fileSystem.faults.withLock { $0.list = EMFILE }
        clock.advance(10)
        registry.rescan()
        #expect(registry.snapshot.instances(of: "AccountService").count == 1)

        // Readable again and the heartbeat really is old (no refresh ran): now it is gone.
        fileSystem.faults.withLock { $0.list = nil }
        #expect(registry.rescan())
        #expect(registry.snapshot.instances(of: "AccountService").isEmpty)
    }
}
