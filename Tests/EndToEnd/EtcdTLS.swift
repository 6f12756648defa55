import Foundation

/// A throwaway CA, etcd's server certificate (its address as IP SAN) and a client certificate, made with
/// openssl in the lab's own directory.
struct EtcdCertificates {
    let ca: String
    let serverCert: String
    let serverKey: String
    let clientCert: String
    let clientKey: String

    /// etcdctl's flags for these.
    var etcdctlFlags: [String] { ["--cacert", ca, "--cert", clientCert, "--key", clientKey] }
}

extension Lab {
    func makeEtcdCertificates() throws -> EtcdCertificates {
        let pki = dir.appendingPathComponent("pki").path
        try FileManager.default.createDirectory(atPath: pki, withIntermediateDirectories: true)
        chmod(pki, 0o755)
        func openssl(_ arguments: [String]) throws {
            try sh(["openssl"] + arguments).check("openssl \(arguments.joined(separator: " "))")
        }
        let newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(
            ["req", "-x509"] + newKey + [
                "-keyout", "\(pki)/ca.key", "-out", "\(pki)/ca.pem", "-days", "1", "-subj", "/CN=mesher-lab-ca",
            ])
        let extensions = [
            // clientAuth too: etcd's JSON gateway dials etcd's own gRPC port with the server certificate.
            "server": "subjectAltName=IP:\(serverIPv4)\nextendedKeyUsage=serverAuth,clientAuth\n",
            "client": "extendedKeyUsage=clientAuth\n",
        ]
        for (name, lines) in extensions {
            try lines.write(toFile: "\(pki)/\(name).ext", atomically: true, encoding: .utf8)
            try openssl(
                ["req"] + newKey + [
                    "-keyout", "\(pki)/\(name).key", "-out", "\(pki)/\(name).csr", "-subj", "/CN=mesher-lab-\(name)",
                ])
            try openssl([
                "x509", "-req", "-in", "\(pki)/\(name).csr", "-CA", "\(pki)/ca.pem", "-CAkey", "\(pki)/ca.key",
                "-CAcreateserial", "-days", "1", "-extfile", "\(pki)/\(name).ext", "-out", "\(pki)/\(name).pem",
            ])
            // Mesher runs as the proxy uid: a test key, in the test's own directory.
            chmod("\(pki)/\(name).key", 0o644)
        }
        return EtcdCertificates(
            ca: "\(pki)/ca.pem", serverCert: "\(pki)/server.pem", serverKey: "\(pki)/server.key",
            clientCert: "\(pki)/client.pem", clientKey: "\(pki)/client.key")
    }
}
