import Config
import Foundation
import Testing
import Yams

/// What these tests check of `deploy/`, without a cluster: every document is YAML with apiVersion, kind and
/// name; the pod templates give the init step NET_ADMIN and NET_RAW only, run Mesher as uid 1337 with its
/// readiness on /ready; the ConfigMaps hold a mesher.yaml that Mesher itself accepts. The Kubernetes API schemas
/// are checked by EndToEnd's ManifestSchemaTests.
struct ManifestTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy")

    static func documents(_ file: String) throws -> [[String: Any]] {
        let text = try String(contentsOf: deploy.appendingPathComponent(file), encoding: .utf8)
        return try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }
    }

    static func podSpec(_ document: [String: Any]) -> [String: Any]? {
        ((document["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]
    }

    static func containers(_ spec: [String: Any], _ key: String) -> [[String: Any]] {
        spec[key] as? [[String: Any]] ?? []
    }

    @Test(arguments: ["etcd.yaml", "mesher-config.yaml", "example-app.yaml", "classic/example-app.yaml"])
    func everyDocumentIsNamedAndTyped(_ file: String) throws {
        let documents = try Self.documents(file)
        #expect(!documents.isEmpty)
        for document in documents {
            #expect(document["apiVersion"] is String && document["kind"] is String, "\(file): \(document.keys)")
            #expect((document["metadata"] as? [String: Any])?["name"] is String, "\(file)")
        }
    }

    @Test(arguments: [("example-app.yaml", true), ("classic/example-app.yaml", false)])
    func podsGetTheInitStepAndTheSidecar(_ file: String, _ native: Bool) throws {
        let deployments = try Self.documents(file).filter { $0["kind"] as? String == "Deployment" }
        #expect(deployments.count == 2)
        for deployment in deployments {
            let spec = try #require(Self.podSpec(deployment))
            let initContainers = Self.containers(spec, "initContainers")
            let initStep = try #require(initContainers.first)
            #expect(initStep["name"] as? String == "mesher-init")
            let initSecurity = try #require(initStep["securityContext"] as? [String: Any])
            let capabilities = try #require(initSecurity["capabilities"] as? [String: Any])
            #expect(capabilities["add"] as? [String] == ["NET_ADMIN", "NET_RAW"])
            #expect(capabilities["drop"] as? [String] == ["ALL"])
            #expect(initSecurity["runAsUser"] as? Int == 0)

            let sidecars = (native ? initContainers : Self.containers(spec, "containers")).filter {
                $0["name"] as? String == "mesher"
            }
            let sidecar = try #require(sidecars.first)
            #expect((sidecar["restartPolicy"] as? String == "Always") == native)
            let security = try #require(sidecar["securityContext"] as? [String: Any])
            #expect(security["runAsUser"] as? Int == 1337 && security["runAsNonRoot"] as? Bool == true)
            let probe = try #require((sidecar["readinessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])
            #expect(probe["path"] as? String == "/ready" && probe["port"] as? Int == 15000)
            #expect((sidecar["command"] as? [String])?.starts(with: ["/usr/local/bin/mesher", "run"]) == true)
            #expect(Self.containers(spec, "containers").contains { $0["name"] as? String == "app" })
        }
    }

    @Test func configMapsHoldAConfigMesherAccepts() throws {
        let maps = try Self.documents("mesher-config.yaml")
        #expect(maps.count == 2)
        for map in maps {
            let text = try #require((map["data"] as? [String: Any])?["mesher.yaml"] as? String)
            let config = try MesherConfig.parse(text, source: "deploy/mesher-config.yaml")
            #expect(config.registry.kind == .etcd)
            #expect(config.admin.address == "0.0.0.0", "the kubelet probes the pod address")
        }
        let provider = try MesherConfig.parse(
            try #require((maps[1]["data"] as? [String: Any])?["mesher.yaml"] as? String))
        #expect(provider.service?.name == "AccountService" && provider.service?.ports == [8080])
    }
}
