import MesherBase
import Yams

/// `mesher inject`: adds the init step and the sidecar to the pod templates of Kubernetes manifests, like
/// `istioctl kube-inject`. Other documents, and pods that opted out or already have Mesher, pass unchanged.
public enum Injector {
    public struct Options: Sendable {
        public var image = "mesher-init:latest"
        public var configMap = "mesher-config"
        public var proxyUID = Int(MesherDefaults.proxyUID)
        /// Kubernetes 1.29+: the sidecar is an init container with `restartPolicy: Always`.
        public var nativeSidecar = true
        /// Fail-open capture: the init step installs NFQUEUE rules, the sidecar keeps CAP_NET_ADMIN for its reader.
        public var failOpen = false

        public init() {}
    }

    /// Where the pod spec is, per workload kind.
    static let podSpecPaths: [String: [String]] = [
        "Pod": ["spec"],
        "Deployment": ["spec", "template", "spec"], "StatefulSet": ["spec", "template", "spec"],
        "DaemonSet": ["spec", "template", "spec"], "ReplicaSet": ["spec", "template", "spec"],
        "Job": ["spec", "template", "spec"], "CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
    ]

    /// Pod annotations that tune the capture of one workload, and the `mesher init` variable each sets.
    static let annotations: [(annotation: String, variable: String)] = [
        ("mesher.io/exclude-outbound-ports", "MESHER_EXCLUDE_OUTBOUND_PORTS"),
        ("mesher.io/exclude-outbound-cidrs", "MESHER_EXCLUDE_OUTBOUND_CIDRS"),
        ("mesher.io/include-outbound-cidrs", "MESHER_INCLUDE_OUTBOUND_CIDRS"),
        ("mesher.io/include-inbound-ports", "MESHER_INCLUDE_INBOUND_PORTS"),
        ("mesher.io/exclude-inbound-ports", "MESHER_EXCLUDE_INBOUND_PORTS"),
        ("mesher.io/capture-dns", "MESHER_CAPTURE_DNS"),
    ]
    static let optOut = "mesher.io/inject"

    /// The whole input, injected; nothing is returned unless every document could be handled.
    public static func inject(_ yaml: String, options: Options = Options()) throws(InjectError) -> String {
        var documents: [Node] = []
        do {
            // Parser, not compose_all: the latter's sequence stops quietly at a syntax error.
            let parser = try Parser(yaml: yaml)
            while let document = try parser.nextRoot() { documents.append(document) }
        } catch {
            throw InjectError(document: documents.count + 1, message: "not YAML: \(error)")
        }
        var output: [String] = []
        for (index, document) in documents.enumerated() {
            let injected = try inject(document, number: index + 1, options: options)
            do {
                output.append(try Yams.serialize(node: injected))
            } catch {
                throw InjectError(document: index + 1, message: "cannot write it back: \(error)")
            }
        }
        return output.joined(separator: "---\n")
    }

    static func inject(_ document: Node, number: Int, options: Options) throws(InjectError) -> Node {
        guard let kind = document["kind"]?.string, let path = podSpecPaths[kind] else { return document }
        let name = document["metadata"]?["name"]?.string ?? "?"
        guard let podSpec = node(document, at: path), podSpec.mapping != nil else {
            throw InjectError(
                document: number, message: "\(kind) \(name): \(path.joined(separator: ".")) is not a mapping")
        }
        let podMetadataPath = path.count > 1 ? Array(path.dropLast()) + ["metadata"] : ["metadata"]
        let podAnnotations = node(document, at: podMetadataPath + ["annotations"])?.mapping
        let workloadAnnotations = document["metadata"]?["annotations"]?.mapping
        func annotation(_ key: String) -> String? { podAnnotations?[key]?.string ?? workloadAnnotations?[key]?.string }

        if annotation(optOut)?.lowercased() == "false" { return document }
        let initContainers = podSpec["initContainers"]?.sequence.map(Array.init) ?? []
        if initContainers.contains(where: { $0["name"]?.string == "mesher-init" }) { return document }

        var spec = podSpec
        let environment = annotations.compactMap { entry in annotation(entry.annotation).map { (entry.variable, $0) } }
        var added = [Containers.initStep(options, environment: environment)]
        if options.nativeSidecar { added.append(Containers.sidecar(options, native: true)) }
        spec["initContainers"] = Node(added + initContainers)
        let containers = spec["containers"]?.sequence.map(Array.init) ?? []
        if !options.nativeSidecar {
            // First: the kubelet starts the app only after the sidecar's postStart hook (`mesher await`).
            spec["containers"] = Node([Containers.sidecar(options, native: false)] + containers)
        }
        let volumes = spec["volumes"]?.sequence.map(Array.init) ?? []
        if !volumes.contains(where: { $0["name"]?.string == Containers.configVolume }) {
            spec["volumes"] = Node(volumes + [Containers.configVolume(options)])
        }
        let injected = replacing(document, at: path, with: spec)
        var annotations = podAnnotations ?? Node.Mapping([])
        // `kubectl logs` and `exec` keep going to the app, not to the sidecar that now comes first.
        if !options.nativeSidecar, annotations[Node(defaultContainer)] == nil,
            let app = containers.first?["name"]?.string
        {
            annotations[Node(defaultContainer)] = Node(app)
        }
        // Prometheus's usual pod discovery finds Mesher's /metrics (a workload's own choice is kept).
        for (key, value) in scrapeAnnotations where annotations[Node(key)] == nil {
            annotations[Node(key)] = Node(value, Tag(.str), .doubleQuoted)
        }
        return replacing(injected, at: podMetadataPath + ["annotations"], with: .mapping(annotations))
    }

    static let defaultContainer = "kubectl.kubernetes.io/default-container"
    static let scrapeAnnotations = [
        ("prometheus.io/scrape", "true"), ("prometheus.io/port", "\(MesherDefaults.adminPort)"),
        ("prometheus.io/path", "/metrics"),
    ]

    static func node(_ root: Node, at path: [String]) -> Node? {
        path.reduce(Optional(root)) { $0?[$1] }
    }

    static func replacing(_ root: Node, at path: [String], with value: Node) -> Node {
        guard let first = path.first, var mapping = root.mapping else { return value }
        let child = mapping[first] ?? Node([(Node, Node)]())
        mapping[first] = replacing(child, at: Array(path.dropFirst()), with: value)
        return Node.mapping(mapping)
    }
}

public struct InjectError: Error, CustomStringConvertible {
    /// 1-based index of the document in the input, when it is about one.
    public let document: Int?
    public let message: String

    public var description: String {
        document.map { "document \($0): \(message)" } ?? message
    }
}
