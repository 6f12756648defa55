import Foundation
import Synchronization
import Testing

@testable import Discovery

/// The directory watched with inotify: changes are used with no scan to find them (the full scan is set to an
/// hour here; how fast is `make bench-scale`'s), only the changed services are rebuilt, expiries come from a
/// timer.
@Suite(.serialized)
struct FileRegistryWatchTests {
    let files: TemporaryRegistry
    let logs = LogRecorder()
    let changes = ChangeRecorder()

    init() throws { files = try TemporaryRegistry() }

    func watched(poll: DispatchTimeInterval = .seconds(3600)) -> FileRegistry {
        let registry = FileRegistry(
            directory: files.directory, timing: FileRegistry.Timing(fullScan: .seconds(3600), poll: poll),
            logger: logs.logger)
        registry.watch { [changes] _, change in changes.list.withLock { $0.append(change) } }
        registry.startWatching()
        return registry
    }

    /// Waits (bounded) until `condition` holds; how long it took, in milliseconds.
    func within(_ milliseconds: Int = 1000, _ condition: () -> Bool) async throws -> Double? {
        let start = ContinuousClock.now
        for _ in 0..<(milliseconds / 5) {
            if condition() {
                let elapsed = ContinuousClock.now - start
                return Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    static func service(_ name: String, port: Int = 8080) -> String {
        "services:\n  \(name):\n    - {address: 198.18.0.2, port: \(port)}\n"
    }

    @Test func changesAreUsedWithNoScanAndOnlyTheirServiceIsRebuilt() async throws {
        defer { files.remove() }
        for index in 0..<1000 { try files.write("s\(index).yaml", Self.service("s\(index)")) }
        let registry = watched()
        try await Task.sleep(for: .milliseconds(50))  // the first scan, made when the watch started
        #expect(registry.snapshot.services.count == 1000)
        changes.list.withLock { $0 = [] }

        try files.write("new.yaml", Self.service("NewService"))  // a temporary file renamed into place
        #expect(try await within { !registry.snapshot.instances(of: "NewService").isEmpty } != nil)
        try Self.service("s7", port: 9090).write(
            toFile: files.directory + "/s7.yaml", atomically: false, encoding: .utf8)  // written in place
        #expect(try await within { registry.snapshot.instances(of: "s7").first?.port == 9090 } != nil)
        try FileManager.default.removeItem(atPath: files.directory + "/s8.yaml")
        #expect(try await within { registry.snapshot.services["s8"] == nil } != nil)
        try files.write("notes.txt", "not a registry file")
        try await Task.sleep(for: .milliseconds(50))
        #expect(changes.list.withLock { $0 } == [.services(["newservice"]), .services(["s7"]), .services(["s8"])])
        #expect(registry.snapshot.services.count == 1000)
    }

    /// Kubernetes mounts a ConfigMap as links into `..data`, swapped whole on a change: no event names a file.
    @Test func configMapSwapIsSeen() async throws {
        defer { files.remove() }
        let manager = FileManager.default
        try manager.createDirectory(atPath: files.directory + "/..v1", withIntermediateDirectories: true)
        try Self.service("A").write(toFile: files.directory + "/..v1/a.yaml", atomically: true, encoding: .utf8)
        try manager.createSymbolicLink(atPath: files.directory + "/..data", withDestinationPath: "..v1")
        try manager.createSymbolicLink(atPath: files.directory + "/a.yaml", withDestinationPath: "..data/a.yaml")
        let registry = watched()
        #expect(try await within { registry.snapshot.instances(of: "A").first?.port == 8080 } != nil)

        try manager.createDirectory(atPath: files.directory + "/..v2", withIntermediateDirectories: true)
        try Self.service("A", port: 9090).write(
            toFile: files.directory + "/..v2/a.yaml", atomically: true, encoding: .utf8)
        try manager.createSymbolicLink(atPath: files.directory + "/..data_tmp", withDestinationPath: "..v2")
        #expect(rename(files.directory + "/..data_tmp", files.directory + "/..data") == 0)
        #expect(try await within { registry.snapshot.instances(of: "A").first?.port == 9090 } != nil)
    }

    /// A directory that is not there yet is polled for; once there, it is watched.
    @Test func directoryCreatedLaterIsWatched() async throws {
        files.remove()
        defer { files.remove() }
        let registry = watched(poll: .milliseconds(50))
        try FileManager.default.createDirectory(atPath: files.directory, withIntermediateDirectories: true)
        try files.write("a.yaml", Self.service("A"))
        #expect(try await within(2000) { !registry.snapshot.instances(of: "A").isEmpty } != nil)
        try await Task.sleep(for: .milliseconds(100))
        try files.write("b.yaml", Self.service("B"))
        #expect(try await within { !registry.snapshot.instances(of: "B").isEmpty } != nil)
        #expect(registry.sync.syncs == 1 && logs.count("registry in sync") == 1, "\(logs.text)")
    }

    /// The directory moved away (unreadable: the view stays as it was) and back: a second full view, counted
    /// and logged.
    @Test func directoryLostAndBackIsASecondSync() async throws {
        defer { files.remove() }
        try files.write("a.yaml", Self.service("A"))
        let registry = watched(poll: .milliseconds(50))
        #expect(try await within { registry.sync.syncs == 1 } != nil)
        #expect(rename(files.directory, files.directory + ".away") == 0)
        #expect(try await within(1000) { !registry.sync.synced } != nil)
        #expect(!registry.snapshot.instances(of: "A").isEmpty, "an unreadable directory keeps the view")
        try Self.service("B").write(toFile: files.directory + ".away/b.yaml", atomically: true, encoding: .utf8)
        #expect(rename(files.directory + ".away", files.directory) == 0)
        #expect(try await within(1000) { registry.sync.syncs == 2 } != nil)
        #expect(!registry.snapshot.instances(of: "A").isEmpty && !registry.snapshot.instances(of: "B").isEmpty)
        #expect(logs.count("registry in sync") == 2, "\(logs.text)")
    }

    /// A provider that stopped: its entry goes when its ttl is past, by the expiry timer (no scan is due).
    @Test func heartbeatExpiresOnTime() async throws {
        defer { files.remove() }
        let now = Date().timeIntervalSince1970
        try files.write(
            "a.yaml", "services:\n  A:\n    - {address: 198.18.0.2, port: 80, heartbeat: \(now), ttl: 0.4}\n")
        let registry = watched()
        #expect(try await within { !registry.snapshot.instances(of: "A").isEmpty } != nil)
        let gone = try await within(1500) { registry.snapshot.instances(of: "A").isEmpty }
        let elapsed = Date().timeIntervalSince1970 - now
        #expect(gone != nil && elapsed >= 0.4 && elapsed < 1.4, "expired after \(elapsed) s")
        // Logged once the view changed (outside the registry's lock).
        #expect(try await within { logs.count("registry instance expired") == 1 } != nil, "\(logs.text)")
    }
}

final class ChangeRecorder: Sendable {
    let list = Mutex<[RegistryChange]>([])
}

/// Where inotify would miss another host's writes, the directory is polled.
struct NetworkFileSystemTests {
    static let table = """
        22 1 0:21 / / rw,relatime - overlay overlay rw
        30 22 0:30 / /mnt/registry rw,relatime - nfs4 server:/export rw,vers=4.2
        31 30 0:31 / /mnt/registry/local rw - tmpfs tmpfs rw
        32 22 0:32 / /mnt/with\\040space rw - fuse.sshfs host: rw
        """

    @Test func theLongestMountPointAboveDecides() {
        #expect(DirectoryWatch.fileSystemType(of: "/mnt/registry/a", in: Self.table) == "nfs4")
        #expect(DirectoryWatch.fileSystemType(of: "/mnt/registry", in: Self.table) == "nfs4")
        #expect(DirectoryWatch.fileSystemType(of: "/mnt/registry/local/x", in: Self.table) == "tmpfs")
        #expect(DirectoryWatch.fileSystemType(of: "/mnt/registryx", in: Self.table) == "overlay")
        #expect(DirectoryWatch.fileSystemType(of: "/mnt/with space/r", in: Self.table) == "fuse.sshfs")
    }

    @Test func aTemporaryDirectoryIsLocal() throws {
        let files = try TemporaryRegistry()
        defer { files.remove() }
        #expect(DirectoryWatch.isLocal(files.directory) == true)
        #expect(DirectoryWatch.isLocal(files.directory + "/missing") == nil)
    }
}
