import Foundation
import Testing

/// etcd as real deployments run it: HTTPS only, a CA of its own, client certificates required
/// (`--client-cert-auth`). Mesher registers and discovers with its client certificate; without one it says
/// why in its log and keeps running.
@Suite(.serialized)
struct EtcdTLSTests {
    @Test func registersAndDiscoversWithClientCertificates() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let pki = try lab.makeEtcdCertificates()
        try lab.startEtcd(tls: pki)
        try lab.startApp(name: "alpha", port: 7100)
        let endpoint = "https://\(lab.serverIPv4):2379"
        let registry =
            "registry: {kind: etcd, endpoints: [\"\(endpoint)\"], "
            + "tls: {ca: \(pki.ca), cert: \(pki.clientCert), key: \(pki.clientKey)}}"
        let provider = try lab.writeConfig(
            """
            \(registry)
            service:
              name: AccountService
              ports: [7100]
              address: \(lab.serverIPv4)
              healthCheck: {kind: http, path: /who, interval: 200ms}
            """, name: "provider.yaml")
        try lab.startProviderMesher(["--config", provider])
        let key = "/mesher/services/AccountService/\(lab.serverIPv4):7100"
        #expect(
            lab.eventually { ((try? lab.etcdKeys(tls: pki)) ?? "").contains(#""status":"up""#) },
            "\(lab.log("provider-mesher"))")
        #expect(try lab.etcdKeys(tls: pki).contains(key))

        // Without a client certificate etcd refuses it: a clear log line, no crash, and nothing routed.
        let noCertificate = try lab.writeConfig(
            "registry: {kind: etcd, endpoints: [\"\(endpoint)\"], tls: {ca: \(pki.ca)}}\n", name: "no-cert.yaml")
        let refused = try lab.startMesher(["--config", noCertificate])
        #expect(
            lab.eventually {
                lab.log("mesher").split(separator: "\n").contains {
                    $0.contains("etcd unreachable") && $0.contains("TLS with \(endpoint)")
                        && $0.contains("registry.tls")
                }
            }, "\(lab.log("mesher"))")
        #expect(refused.isRunning)
        #expect(lab.stop(refused) == 0)

        // With it, discovery works: the consumer routes to the provider's instance.
        let consumer = try lab.writeConfig(registry + "\n", name: "consumer.yaml")
        try lab.mesherCommand(["init"]).check("mesher init")
        try lab.startMesher(["--config", consumer])
        #expect(
            lab.eventually {
                let result = try? lab.inClient([
                    "curl", "-sS", "-m", "5", "--connect-to", "::\(lab.serverIPv4):8080",
                    "http://AccountService:8080/who",
                ])
                return result?.stdout.hasPrefix("alpha /who") ?? false
            }, "\(lab.log("mesher"))")
    }
}
