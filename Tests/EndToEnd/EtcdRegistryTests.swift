import Foundation
import Testing

/// The etcd registry, with a real etcd: registration under a lease, discovery by watch, serving the last view
/// while etcd is away, and registration restored when it comes back without its data.
@Suite(.serialized)
struct EtcdRegistryTests {
    @Test func registersDiscoversAndSurvivesEtcdRestarts() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        var etcd = try lab.startEtcd()
        try lab.startApp(name: "alpha", port: 7100)
        let registry = "registry: {kind: etcd, endpoints: [\"http://\(lab.serverIPv4):2379\"], leaseTTL: 3s}"
        let provider = try lab.writeConfig(
            """
            \(registry)
            service:
              name: AccountService
              version: 2.0.0
              ports: [7100]
              address: \(lab.serverIPv4)
              healthCheck: {kind: http, path: /who, interval: 200ms}
            """, name: "provider.yaml")
        let consumer = try lab.writeConfig(registry + "\n", name: "consumer.yaml")
        let providerMesher = try lab.startProviderMesher(["--config", provider])
        try lab.mesherCommand(["init"]).check("mesher init")
        try lab.startMesher(["--config", consumer])
        func call() -> String {
            (try? lab.inClient([
                "curl", "-sS", "-m", "5", "--connect-to", "::\(lab.serverIPv4):8080", "http://AccountService:8080/who",
            ]).stdout) ?? ""
        }

        // Readable without Mesher (topology 3): plain JSON under /mesher/services/<service>/<address>:<port>.
        let key = "/mesher/services/AccountService/\(lab.serverIPv4):7100"
        #expect(
            lab.eventually { ((try? lab.etcdKeys()) ?? "").contains(#""status":"up""#) },
            "\(lab.log("provider-mesher"))")
        let keys = try lab.etcdKeys()
        #expect(keys.contains(key) && keys.contains(#""version":"2.0.0""#), "\(keys)")
        #expect(lab.eventually { call().hasPrefix("alpha /who") }, "\(lab.log("mesher"))")

        // Another writer's garbage is skipped, the good entries stay.
        try lab.inServer(
            [
                "env", "ETCDCTL_API=3", "etcdctl", "--endpoints", "http://\(lab.serverIPv4):2379", "put",
                "/mesher/services/Bad/x", "not json",
            ],
            uid: nil
        ).check("etcdctl put")
        #expect(lab.eventually { lab.log("mesher").contains("registry entry ignored") })
        #expect(call().hasPrefix("alpha /who"))

        // etcd gone: the consumer keeps routing with what it knows.
        kill(etcd.processIdentifier, SIGKILL)
        etcd.waitUntilExit()
        #expect(call().hasPrefix("alpha /who"))
        #expect(lab.eventually { lab.log("mesher").contains("etcd unreachable") })

        // etcd back without its data: the provider registers again under a new lease.
        etcd = try lab.startEtcd(generation: 2)
        #expect(
            lab.eventually(timeout: 10) { ((try? lab.etcdKeys()) ?? "").contains(key) }, "\(lab.log("provider-mesher"))"
        )
        #expect(lab.eventually { call().hasPrefix("alpha /who") })
        // A full view logged with its size at start and again after the reconnect, and counted.
        let synced = lab.log("mesher").split(separator: "\n").filter { $0.contains("registry in sync") }
        #expect(synced.count == 2 && synced.allSatisfy { $0.contains("registry=etcd") }, "\(synced)")

        // SIGTERM: the key goes away at once (not only when the lease runs out).
        #expect(lab.stop(providerMesher) == 0)
        #expect(try !lab.etcdKeys().contains(key))
    }

    /// The first lease and put go out as soon as the provider registers, not at the lease loop's first tick
    /// (a third of the default 10 s TTL): the key is in etcd within a second of the process starting.
    @Test func registrationReachesEtcdAtOnce() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.startEtcd()
        let config = try lab.writeConfig(
            """
            registry: {kind: etcd, endpoints: ["http://\(lab.serverIPv4):2379"]}
            service: {name: AccountService, ports: [7100], address: \(lab.serverIPv4), healthCheck: {kind: none}}
            """, name: "provider.yaml")
        let key = "/mesher/services/AccountService/\(lab.serverIPv4):7100"
        // etcdctl watches before Mesher starts: the event is in its output as soon as etcd has the key, with no
        // etcdctl start-up in the measured time.
        try lab.spawn(
            in: lab.server,
            [
                "env", "ETCDCTL_API=3", "etcdctl", "--endpoints", "http://\(lab.serverIPv4):2379", "watch", "--rev",
                "1", "--prefix",
                "/mesher/services/",
            ], log: "etcdctl-watch")
        usleep(300_000)
        let started = Date()
        let provider = try lab.spawn(
            in: lab.server, uid: Lab.proxyUID, [lab.mesher, "run", "--log-level", "debug", "--config", config],
            log: "provider-mesher")
        // Every 50 ms for 5 s at most.
        var seenAfter: TimeInterval?
        for _ in 0..<100 where seenAfter == nil && provider.isRunning {
            if lab.log("etcdctl-watch").contains(key) {
                seenAfter = Date().timeIntervalSince(started)
            } else {
                usleep(50_000)
            }
        }
        #expect(
            seenAfter.map { $0 < 1 } == true,
            "seen after \(seenAfter.map { "\($0) s" } ?? "never"): \(lab.log("provider-mesher"))")
        #expect(try lab.etcdKeys().contains(key))
        // Logged once etcd confirmed the put, with the key.
        let confirmed = lab.log("provider-mesher").split(separator: "\n").contains {
            $0.hasSuffix(" registered") && $0.contains("key=\(key)")
        }
        #expect(confirmed, "\(lab.log("provider-mesher"))")
        #expect(lab.stop(provider) == 0)
    }

    /// Topology 1 with etcd: only the consumer has a Mesher; the instance was written by someone else.
    @Test func consumerOnlyReadsInstancesOthersWrote() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.startEtcd()
        try lab.startApp(name: "alpha", port: 7100)
        let record = #"{"service":"Ledger","address":"\#(lab.serverIPv4)","port":7100,"status":"up"}"#
        try lab.inServer(
            [
                "env", "ETCDCTL_API=3", "etcdctl", "--endpoints", "http://\(lab.serverIPv4):2379", "put",
                "/mesher/services/Ledger/\(lab.serverIPv4):7100", record,
            ], uid: nil
        ).check("etcdctl put")
        let consumer = try lab.writeConfig(
            "registry: {kind: etcd, endpoints: [\"http://\(lab.serverIPv4):2379\"]}\n", name: "consumer.yaml")
        try lab.mesherCommand(["init"]).check("mesher init")
        try lab.startMesher(["--config", consumer])
        #expect(
            lab.eventually {
                let result = try? lab.inClient(
                    ["curl", "-sS", "-m", "5", "--connect-to", "::\(lab.serverIPv4):8080", "http://ledger:8080/who"])
                return result?.stdout.hasPrefix("alpha /who") ?? false
            }, "\(lab.log("mesher"))")
    }

    /// A registry larger than any one reply: read in pages of 500 keys, all as of one revision, then watched.
    @Test func largeRegistryIsReadInPages() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.startEtcd()
        try lab.startApp(name: "alpha", port: 7100)
        let endpoint = "http://\(lab.serverIPv4):2379"
        let load = Lab.fixtures.appendingPathComponent("etcdload.py").path
        try lab.inServer(["/usr/bin/python3", load, endpoint, "/mesher/", "20000"], uid: nil).check("etcdload")
        func put(_ service: String) throws {
            let record = #"{"service":"\#(service)","address":"\#(lab.serverIPv4)","port":7100}"#
            try lab.inServer(
                [
                    "env", "ETCDCTL_API=3", "etcdctl", "--endpoints", endpoint, "put",
                    "/mesher/services/\(service)/\(lab.serverIPv4):7100", record,
                ], uid: nil
            ).check("etcdctl put")
        }
        try put("Ledger")
        let consumer = try lab.writeConfig("registry: {kind: etcd, endpoints: [\"\(endpoint)\"]}\n", name: "c.yaml")
        try lab.mesherCommand(["init"]).check("mesher init")
        try lab.startMesher(["--config", consumer])
        func call(_ service: String) -> Bool {
            let result = try? lab.inClient(
                ["curl", "-sS", "-m", "5", "--connect-to", "::\(lab.serverIPv4):8080", "http://\(service):8080/who"])
            return result?.stdout.hasPrefix("alpha /who") ?? false
        }
        #expect(lab.eventually(timeout: 30) { call("ledger") }, "\(lab.log("mesher"))")
        let synced = lab.log("mesher").split(separator: "\n").filter { $0.contains("registry in sync") }
        #expect(synced.count == 1 && synced[0].contains("services=4001") && synced[0].contains("instances=20001"))
        try put("Journal")
        #expect(lab.eventually { call("journal") }, "a watch event, applied to its service: \(lab.log("mesher"))")
    }
}
