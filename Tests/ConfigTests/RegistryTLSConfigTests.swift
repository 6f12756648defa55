import Foundation
import Testing

@testable import Config

/// `registry.tls`: PEM files for etcd over HTTPS, checked at load so that a wrong path names its line and field.
struct RegistryTLSConfigTests {
    /// Three readable files in a directory of the test's own, removed after `body`.
    func withFiles(_ body: (_ ca: String, _ cert: String, _ key: String, _ directory: String) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mesher-tls-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for name in ["ca.pem", "client.pem", "client.key"] {
            try "-----BEGIN X-----\n".write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
        }
        try body("\(directory)/ca.pem", "\(directory)/client.pem", "\(directory)/client.key", directory)
    }

    @Test func httpsWithClientCertificate() throws {
        try withFiles { ca, cert, key, _ in
            let config = try MesherConfig.parse(
                """
                registry:
                  kind: etcd
                  endpoints: [https://198.18.0.2:2379]
                  tls: {ca: \(ca), cert: \(cert), key: \(key)}
                """)
            #expect(config.registry.endpoints == ["https://198.18.0.2:2379"])
            #expect(
                config.registry.tls?.ca == ca && config.registry.tls?.cert == cert && config.registry.tls?.key == key)
        }
    }

    @Test func httpsWithoutTLSSectionUsesDefaults() throws {
        let config = try MesherConfig.parse("registry: {kind: etcd, endpoints: [\"https://etcd.example:2379\"]}\n")
        #expect(config.registry.tls == nil)
        #expect(MesherConfig().registry.tls == nil)
    }

    @Test func badSettingsNameLineAndField() throws {
        try withFiles { ca, cert, key, directory in
            let https = "registry:\n  kind: etcd\n  endpoints: [https://198.18.0.2:2379]\n"
            let cases: [(String, Int, String, String)] = [
                (https + "  tls:\n    ca: \(directory)/missing.pem\n", 5, "registry.tls.ca", "cannot read"),
                (https + "  tls:\n    ca: \(directory)\n", 5, "registry.tls.ca", "cannot read"),
                (https + "  tls:\n    ca: \(ca)\n    cert: \(cert)\n", 6, "registry.tls.cert", "set without key"),
                (https + "  tls:\n    key: \(key)\n", 5, "registry.tls.key", "set without cert"),
                (
                    https + "  tls:\n    cert: \(cert)\n    key: \(directory)/none.key\n", 6, "registry.tls.key",
                    "cannot read"
                ),
                (https + "  tls:\n    ca: \(ca)\n    password: x\n", 6, "registry.tls.password", "unknown field"),
                (
                    "registry:\n  kind: etcd\n  endpoints: [http://198.18.0.2:2379]\n  tls: {ca: \(ca)}\n", 4,
                    "registry.tls", "no endpoint is https://"
                ),
                ("registry:\n  endpoints: [ftp://198.18.0.2:2379]\n", 2, "registry.endpoints", "not a URL"),
            ]
            for (yaml, line, field, message) in cases {
                #expect {
                    try MesherConfig.parse(yaml, source: "mesher.yaml")
                } throws: { error in
                    guard let error = error as? ConfigError else { return false }
                    return error.line == line && error.field == field && error.message.contains(message)
                }
            }
        }
    }
}
