import Testing

@testable import Discovery

/// The fast reading of the usual file and the Codable one agree: on the files it reads, it gives what the
/// Codable path gives; everything else it leaves to that path (FuzzRegistryFile checks the same on any input).
struct RegistryFilePlainTests {
    static func both(_ text: String) throws -> (plain: RegistryFile.Content?, decoded: RegistryFile.Content) {
        let root = try #require(try RegistryFile.compose(text, source: "t.yaml"))
        return (RegistryFile.plainContent(root), try RegistryFile.decodedContent(root, source: "t.yaml"))
    }

    @Test(arguments: [
        "services:\n  A:\n    - {address: 198.18.0.2, port: 8080}\n",
        """
        services:
          AccountService:
            - {address: 198.18.0.2, port: 8080, version: 1.0.0, tags: {zone: a, tier: 'gold'}}
            - {address: "2001:db8::2", port: 8081, status: down, protocol: h2c, app: bank, environment: ~}
            - {address: 198.18.0.3, port: 8080, status: up, heartbeat: 1795650712.630, ttl: 10}
          StoreWeb:
            - address: 198.18.0.4
              port: 80
              version: "2"
          EmptyService: []
        """,
        "services:\n  B:\n    - {address: 198.18.0.2, port: 1, version: null, service: B}\n",
        "services:\n  A:\n    - &x {address: 198.18.0.2, port: 80}\n  B:\n    - *x\n",  // dereferenced
    ])
    func usualFilesAreReadAlike(_ text: String) throws {
        let (plain, decoded) = try Self.both(text)
        let read = try #require(plain, "read the fast way")
        #expect(read.listings == decoded.listings && Set(read.services) == Set(decoded.services))
    }

    @Test(arguments: [
        "services:\n  A:\n    - {address: 198.18.0.2, port: 0x50}\n",  // another spelling of a number
        // Found by FuzzRegistryFile: read as octal (32) by Yams, as 40 by the first fast reading.
        "services:\n  A:\n    - {address: 198.18.0.2, port: 0040}\n",
        "services:\n  A:\n    - {address: 198.18.0.2, port: 80, heartbeat: 012.5, ttl: 3}\n",
        "services:\n  A:\n    - {address: 198.18.0.2, port: 80, weight: 3}\n",  // a field Mesher does not know
        "services:\n  A:\n    - {address: 198.18.0.2, port: !!str 80}\n",  // a tag
        "services:\n  A:\n    - {address: 198.18.0.2, port: 80, tags: {'tier': gold}}\n",  // a quoted key
        "services:\n  A:\n    - {address: 198.18.0.2, port: 80, ttl: 1e3, heartbeat: 5}\n",
        "services:\n  A:\n    - {address: 198.18.0.2, port: 80}\nother: 1\n",
        "services:\n  'A':\n    - {address: 198.18.0.2, port: 80}\n",  // a quoted key
    ])
    func otherFilesGoTheCodableWay(_ text: String) throws {
        let root = try #require(try RegistryFile.compose(text, source: "t.yaml"))
        #expect(RegistryFile.plainContent(root) == nil)
    }

    /// What the Codable path refuses, the fast one does not read either (so the error names file and field).
    @Test(arguments: [
        "services:\n  A:\n    - {address: nowhere, port: 80}\n",
        "services:\n  A:\n    - {address: 198.18.0.2, port: 0}\n",
        "services:\n  A:\n    - {address: 198.18.0.2}\n",
        "services:\n  A:\n    - {address: 198.18.0.2, port: 1, heartbeat: 5}\n",
        "services:\n  A:\n    - {address: 198.18.0.2, port: 1, status: sideways}\n",
        "services:\n  bad_name:\n    - {address: 198.18.0.2, port: 1}\n",
        "services:\n  A:\n    - {address: 0.0.0.0, port: 15000}\n",
        "services:\n  A:\n    - {address: '::', port: 15000}\n",
        "services:\n  A:\n    - {address: 224.0.0.1, port: 80}\n",
        "services:\n  A:\n    - {address: 255.255.255.255, port: 80}\n",
    ])
    func refusedFilesAreNotReadTheFastWay(_ text: String) throws {
        let root = try #require(try RegistryFile.compose(text, source: "t.yaml"))
        #expect(RegistryFile.plainContent(root) == nil)
    }
}
