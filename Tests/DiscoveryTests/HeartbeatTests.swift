import Foundation
import Testing

@testable import Discovery

/// A provider's Mesher writes its instance files with a heartbeat and a ttl and refreshes them every ttl/3;
/// readers drop an entry whose heartbeat is older than its ttl. The clock is the test's: no sleeping.
struct HeartbeatTests {
    let clock = FakeClock()
    let logs = LogRecorder()
    let instance = ServiceInstance(service: "AccountService", address: "198.18.0.2", port: 8080, version: "1.0.0")
    let fileName = "AccountService-198.18.0.2-8080.yaml"

    func registry(_ files: TemporaryRegistry, ttl: Double = 3, _ fileSystem: FaultyFileSystem = FaultyFileSystem())
        -> FileRegistry
    {
        FileRegistry(
            directory: files.directory, leaseTTL: ttl, fileSystem: fileSystem, clock: clock.source, logger: logs.logger)
    }

    func heartbeat(_ files: TemporaryRegistry) throws -> Double? {
        try RegistryFile.parse(files.read(fileName), source: fileName).listings.first?.heartbeat
    }

    @Test func publishedFileCarriesHeartbeatAndTTL() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        let provider = registry(files)
        try provider.publish(instance)
        let text = files.read(fileName)
        #expect(text.contains("heartbeat: \(String(format: "%.3f", clock.now))"), "\(text)")
        #expect(text.contains("ttl: 3}"), "\(text)")
        let listing = try #require(RegistryFile.parse(text, source: fileName).listings.first)
        #expect(listing.instance == instance && listing.heartbeat == clock.now && listing.ttl == 3)
        #expect(RegistryFile.render(instance, heartbeat: 1.5, ttl: 3.25).contains("heartbeat: 1.500, ttl: 3.250}"))
    }

    /// The provider crashed: nothing refreshes or removes its file. Readers drop it one ttl after its last
    /// heartbeat, though no file changes.
    @Test func crashedProviderExpiresWithoutAnyFileChange() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        try registry(files).publish(instance)
        let consumer = registry(files)
        #expect(consumer.snapshot.instances(of: "AccountService") == [instance])

        clock.advance(2.9)
        #expect(!consumer.rescan())
        #expect(consumer.snapshot.instances(of: "AccountService") == [instance])
        clock.advance(0.2)
        #expect(consumer.rescan(), "expired at a scan with no file changed")
        #expect(consumer.snapshot.instances(of: "AccountService").isEmpty)
        #expect(consumer.snapshot.serviceNames == ["accountservice"], "the service stays known: requests get a 503")
        consumer.rescan()
        #expect(logs.count("registry instance expired") == 1, "\(logs.text)")
    }

    @Test func refreshKeepsTheInstanceAlive() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        let provider = registry(files)
        let consumer = registry(files)
        try provider.publish(instance)
        let first = try heartbeat(files)

        clock.advance(0.5)
        provider.refreshHeartbeats()
        #expect(try heartbeat(files) == first, "not due before ttl/3")

        for _ in 0..<6 {
            clock.advance(1)
            provider.refreshHeartbeats()
            consumer.rescan()
            #expect(consumer.snapshot.instances(of: "AccountService") == [instance])
        }
        #expect(try heartbeat(files) == clock.now)
    }

    @Test func failedRefreshIsLoggedOnceAndRetriedAtEveryTick() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        let fileSystem = FaultyFileSystem()
        let provider = registry(files, fileSystem)
        try provider.publish(instance)

        fileSystem.faults.withLock { $0.write = ENOSPC }
        clock.advance(1)
        provider.refreshHeartbeats()
        let writes = fileSystem.writes
        // Not a third of a ttl later: at once, at every tick.
        clock.advance(0.25)
        provider.refreshHeartbeats()
        provider.refreshHeartbeats()
        #expect(fileSystem.writes == writes + 2)
        #expect(logs.count("cannot refresh the registry heartbeat") == 1, "\(logs.text)")
        #expect(logs.text.contains("file=\(files.directory)/\(fileName)"))

        fileSystem.faults.withLock { $0.write = nil }
        provider.refreshHeartbeats()
        #expect(try heartbeat(files) == clock.now)
        #expect(logs.count("registry instance file written again") == 1)
    }

    @Test func failedFirstWriteIsRetried() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        let fileSystem = FaultyFileSystem()
        let provider = registry(files, fileSystem)
        fileSystem.faults.withLock { $0.write = EMFILE }
        #expect(throws: SystemCallError.self) { try provider.publish(instance) }
        fileSystem.faults.withLock { $0.write = nil }
        provider.refreshHeartbeats()
        #expect(try heartbeat(files) == clock.now)
    }

    @Test func withdrawStopsTheRefresh() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        let provider = registry(files)
        try provider.publish(instance)
        try provider.withdraw(instance)
        #expect(!FileManager.default.fileExists(atPath: files.directory + "/" + fileName))
        clock.advance(5)
        provider.refreshHeartbeats()
        #expect(!FileManager.default.fileExists(atPath: files.directory + "/" + fileName))
    }

    @Test func handWrittenFilesNeverExpire() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        try files.write("a.yaml", accountService)
        let consumer = registry(files)
        clock.advance(1e9)
        consumer.rescan()
        #expect(consumer.snapshot.instances(of: "AccountService").count == 1)
    }

    /// A writer whose clock runs an hour ahead: its dead entry still goes one ttl after it stops changing.
    @Test func heartbeatFromTheFutureExpiresOneTTLAfterItWasRead() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        try files.write(
            "a.yaml",
            "services:\n  A:\n    - {address: 198.18.0.2, port: 80, heartbeat: \(clock.now + 3600), ttl: 3}\n")
        let consumer = registry(files)
        clock.advance(2)
        consumer.rescan()
        #expect(consumer.snapshot.instances(of: "A").count == 1)
        clock.advance(2)
        consumer.rescan()
        #expect(consumer.snapshot.instances(of: "A").isEmpty)
    }

    @Test(arguments: [
        ("{address: 198.18.0.2, port: 80, heartbeat: 5}", "services.A[0]: heartbeat and ttl go together"),
        ("{address: 198.18.0.2, port: 80, ttl: 5}", "services.A[0]: heartbeat and ttl go together"),
        ("{address: 198.18.0.2, port: 80, heartbeat: 5, ttl: 0}", "services.A[0].ttl: must be a number of seconds"),
        ("{address: 198.18.0.2, port: 80, heartbeat: -5, ttl: 3}", "services.A[0].heartbeat: must be unix seconds"),
        ("{address: 198.18.0.2, port: 80, heartbeat: .nan, ttl: 3}", "services.A[0].heartbeat: must be unix seconds"),
    ])
    func badHeartbeatsAreRefused(_ entry: String, _ message: String) {
        #expect {
            try RegistryFile.parse("services:\n  A:\n    - \(entry)\n", source: "a.yaml")
        } throws: { "\($0)".contains(message) }
    }

    /// The real timer, with a ttl far below what the config allows so that it ticks fast.
    @Test func timerRefreshesUntilStopped() async throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        let provider = FileRegistry(directory: files.directory, leaseTTL: 0.3, logger: logs.logger)
        try provider.publish(instance)
        let first = try heartbeat(files)
        var refreshed = false
        for _ in 0..<40 where !refreshed {
            try await Task.sleep(for: .milliseconds(50))
            refreshed = try heartbeat(files) != first
        }
        #expect(refreshed)
        provider.stop()
    }
}
