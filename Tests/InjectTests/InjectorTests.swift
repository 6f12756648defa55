import Foundation
import Testing

@testable import Inject

/// Golden files: `Golden/<name>.in.yaml` injected must equal `Golden/<name>.out.yaml`
/// (`MESHER_UPDATE_GOLDEN=1 swift test --filter InjectTests` rewrites them after a deliberate change).
struct InjectorTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    static let cases = ["pod", "deployment-and-service", "statefulset", "daemonset", "job-and-cronjob", "opted-out"]

    func run(_ name: String, classic: Bool = false) throws -> (String, String) {
        var options = Injector.Options()
        options.nativeSidecar = !classic
        let input = try String(contentsOf: Self.golden.appendingPathComponent("\(name).in.yaml"), encoding: .utf8)
        let output = try Injector.inject(input, options: options)
        let expected = Self.golden.appendingPathComponent("\(name)\(classic ? ".classic" : "").out.yaml")
        if ProcessInfo.processInfo.environment["MESHER_UPDATE_GOLDEN"] == "1" {
            try output.write(to: expected, atomically: true, encoding: .utf8)
        }
        return (output, try String(contentsOf: expected, encoding: .utf8))
    }

    @Test(arguments: cases)
    func injectsAsTheGoldenFileSays(_ name: String) throws {
        let (output, expected) = try run(name)
        #expect(output == expected)
    }

    @Test func classicSidecarIsAnOrdinaryContainer() throws {
        let (output, expected) = try run("deployment-and-service", classic: true)
        #expect(output == expected)
        #expect(!output.contains("restartPolicy: Always"))
    }

    @Test(arguments: cases)
    func injectingTwiceChangesNothing(_ name: String) throws {
        let (once, _) = try run(name)
        #expect(try Injector.inject(once) == once)
    }

    @Test func everyPodTemplateGetsBothContainersAndOtherFieldsStay() throws {
        let (output, _) = try run("job-and-cronjob")
        #expect(output.components(separatedBy: "name: mesher-init").count == 3, "the Job and the CronJob")
        #expect(output.contains(#"schedule: "0 3 * * *""#) && output.contains("restartPolicy: OnFailure"))
        let (statefulset, _) = try run("statefulset")
        let migrate = try #require(statefulset.range(of: "name: migrate"))
        let initStep = try #require(statefulset.range(of: "name: mesher-init"))
        #expect(initStep.lowerBound < migrate.lowerBound, "capture is in place before the app's own init containers")
        #expect(statefulset.contains("emptyDir: {}") && statefulset.contains("name: mesher-config"))
    }

    @Test func failOpenSidecarKeepsNetAdminOnly() throws {
        let input = try String(contentsOf: Self.golden.appendingPathComponent("pod.in.yaml"), encoding: .utf8)
        var options = Injector.Options()
        options.failOpen = true
        let output = try Injector.inject(input, options: options)
        #expect(output.components(separatedBy: "name: MESHER_CAPTURE_MODE").count == 3, "init step and sidecar")
        #expect(output.contains("allowPrivilegeEscalation: true"))
        let sidecar = try #require(output.range(of: "name: mesher\n"))
        #expect(output[sidecar.upperBound...].contains("- NET_ADMIN\n"))
        #expect(!output[sidecar.upperBound...].contains("NET_RAW"))
    }

    @Test func annotationsBecomeInitVariables() throws {
        let (output, _) = try run("daemonset")
        #expect(output.contains("name: MESHER_INCLUDE_INBOUND_PORTS\n          value: \"\""))
        #expect(output.contains("name: MESHER_CAPTURE_DNS\n          value: \"true\""))
    }

    /// EndToEnd's ManifestSchemaTests validates what inject writes for this fixture against the Kubernetes schemas.
    @Test func schemaTestFixtureHasEveryWorkloadKind() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("EndToEnd/Fixtures/workloads.yaml")
        let kinds = try String(contentsOf: fixture, encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("kind: ") }.map { String($0.dropFirst("kind: ".count)) }
        #expect(Set(Injector.podSpecPaths.keys).isSubset(of: kinds), "\(kinds)")
    }

    @Test func optedOutPodIsLeftAlone() throws {
        let (output, _) = try run("opted-out")
        #expect(!output.contains("mesher-init"))
    }

    @Test func yamlItDoesNotUnderstandNamesTheDocument() {
        let yaml =
            "kind: Service\nmetadata: {name: a}\n---\nkind: Deployment\nmetadata: {name: broken}\nspec: {replicas: 1}\n"
        #expect {
            try Injector.inject(yaml)
        } throws: { error in
            "\(error)" == "document 2: Deployment broken: spec.template.spec is not a mapping"
        }
        #expect {
            try Injector.inject("kind: Service\n---\na: [\n")
        } throws: { error in
            "\(error)".hasPrefix("document 2: not YAML")
        }
    }
}
