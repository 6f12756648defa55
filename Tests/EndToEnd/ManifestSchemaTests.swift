import Foundation
import Testing
import Yams

/// The manifests Mesher ships (`deploy/`, `deploy/classic/`) and the ones `mesher inject` writes for every workload
/// kind and mode, checked offline against the Kubernetes API schemas by `kubernetes-validate --strict` (installed by
/// scripts/install-deps.sh): unknown fields, wrong types and missing required fields are refused.
struct ManifestSchemaTests {
    /// 1.29, the first release with native sidecars (an init container with restartPolicy: Always) on by default,
    /// and the newest one the pinned kubernetes-validate ships.
    static let versions = ["1.29.0", "1.37.0"]
    /// The oldest schemas the tool ships: `deploy/classic/` and `--classic` are for clusters before 1.29.
    static let oldest = "1.25.0"
    static let repository = Lab.fixtures.deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let workloads = Lab.fixtures.appendingPathComponent("workloads.yaml").path
    /// Every output mode of `mesher inject`, and whether it is the classic one (the sidecar an ordinary container).
    static let modes: [(name: String, flags: [String], classic: Bool)] = [
        ("native", [], false), ("classic", ["--classic"], true),
        ("native-fail-open", ["--fail-open"], false), ("classic-fail-open", ["--classic", "--fail-open"], true),
    ]

    /// A document with apiVersion or kind is a Kubernetes object (the validator refuses one that lacks the other);
    /// one with neither, such as a mesher.yaml, is other YAML and is left out.
    static func kubernetesObjects(in yaml: String) throws -> [Node] {
        let parser = try Parser(yaml: yaml)
        var objects: [Node] = []
        while let document = try parser.nextRoot() {
            if document["apiVersion"] != nil || document["kind"] != nil { objects.append(document) }
        }
        return objects
    }

    /// A file of Kubernetes objects to validate.
    struct Staged {
        var path: String
        var objects: Int
        /// Made for clusters without native sidecars.
        var classic: Bool
    }

    /// The Kubernetes objects of every YAML file under deploy/, and `mesher inject`'s output for the workloads
    /// fixture in every mode, written to `directory`.
    static func stage(in directory: URL) throws -> [Staged] {
        let deploy = repository.appendingPathComponent("deploy")
        let files = (FileManager.default.enumerator(atPath: deploy.path)?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        var staged: [Staged] = []
        for file in files {
            let text = try String(contentsOf: deploy.appendingPathComponent(file), encoding: .utf8)
            let objects = try kubernetesObjects(in: text)
            guard !objects.isEmpty else { continue }
            let copy = directory.appendingPathComponent("deploy").appendingPathComponent(file)
            try FileManager.default.createDirectory(
                at: copy.deletingLastPathComponent(), withIntermediateDirectories: true)
            try objects.map { try Yams.serialize(node: $0) }.joined(separator: "---\n")
                .write(to: copy, atomically: true, encoding: .utf8)
            staged.append(Staged(path: copy.path, objects: objects.count, classic: file.hasPrefix("classic/")))
        }
        for mode in modes {
            let output = try sh([Lab.mesherBinary, "inject", "-f", workloads] + mode.flags).check("mesher inject")
            let path = directory.appendingPathComponent("inject-\(mode.name).yaml").path
            try output.stdout.write(toFile: path, atomically: true, encoding: .utf8)
            staged.append(
                Staged(path: path, objects: try kubernetesObjects(in: output.stdout).count, classic: mode.classic))
        }
        return staged
    }

    /// The validator's verdict on `files`: its exit status, how many objects passed, and every other line it wrote
    /// (failures, and warnings such as a kind it has no schema for, which it does not count as a failure).
    static func validate(_ files: [Staged], version: String) throws -> (status: Int32, passed: Int, problems: [String])
    {
        let result: CommandResult
        do {
            result = try sh(["kubernetes-validate", "--strict", "-k", version] + files.map(\.path))
        } catch {
            throw ShellError(description: "kubernetes-validate (scripts/install-deps.sh installs it): \(error)")
        }
        let lines = (result.stdout + result.stderr).split(separator: "\n").map(String.init)
        let passed = lines.filter { $0.hasPrefix("INFO ") && $0.contains(" passed for resource ") }
        return (result.status, passed.count, lines.filter { !passed.contains($0) })
    }

    static func withStaged<T>(_ body: ([Staged]) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("manifests-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(try stage(in: directory))
    }

    @Test(arguments: versions)
    func everyManifestMatchesTheSchemas(_ version: String) throws {
        try Self.withStaged { staged in
            let deployed = staged.filter { $0.path.contains("/deploy/") }
            #expect(deployed.contains { $0.path.hasSuffix("/deploy/example-app.yaml") })
            #expect(deployed.contains { $0.path.hasSuffix("/deploy/classic/example-app.yaml") })
            let injected = staged.filter { $0.path.contains("/inject-") }
            #expect(injected.map(\.objects) == [9, 9, 9, 9], "7 workloads, a Service and a ConfigMap per mode")
            let verdict = try Self.validate(staged, version: version)
            #expect(verdict.status == 0 && verdict.problems.isEmpty, "\(verdict.problems.joined(separator: "\n"))")
            #expect(verdict.passed == staged.map(\.objects).reduce(0, +))
        }
    }

    @Test func classicManifestsSuitClustersWithoutNativeSidecars() throws {
        try Self.withStaged { staged in
            let classic = staged.filter(\.classic)
            #expect(classic.count == 3)
            let verdict = try Self.validate(classic, version: Self.oldest)
            #expect(verdict.status == 0 && verdict.problems.isEmpty, "\(verdict.problems.joined(separator: "\n"))")
            #expect(verdict.passed == classic.map(\.objects).reduce(0, +))
        }
    }

    /// The schemas are strict where it matters: before 1.28 a container has no restartPolicy, so every pod
    /// template with a native sidecar is refused, and the test above would see a field out of place.
    @Test func nativeSidecarsAreRefusedBefore128() throws {
        try Self.withStaged { staged in
            let native = staged.filter { $0.path.hasSuffix("/inject-native.yaml") }
            let verdict = try Self.validate(native, version: "1.27.0")
            #expect(verdict.status == 1)
            #expect(verdict.passed == 2, "the Service and the ConfigMap")
            let refused = verdict.problems.filter { $0.contains("'restartPolicy' was unexpected") }
            #expect(refused.count == 7 && refused.count == verdict.problems.count, "\(verdict.problems)")
        }
    }

    @Test func otherYAMLIsLeftOutByWhatItIsNotByItsName() throws {
        let yaml = """
            registry: {kind: etcd}
            dns: {enabled: true}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: a}
            ---
            kind: Pod
            metadata: {name: no-api-version}
            """
        let objects = try Self.kubernetesObjects(in: yaml)
        #expect(objects.map { $0["metadata"]?["name"]?.string } == ["a", "no-api-version"])
    }
}
