import ArgumentParser
import Foundation
import Inject
import MesherBase

struct InjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inject",
        abstract: "Add Mesher's init step and sidecar to Kubernetes manifests (Pod, Deployment, StatefulSet, ...).",
        discussion: """
            Reads YAML (one or more documents) and writes it with every pod template injected. Idempotent; \
            a pod annotated mesher.io/inject: "false" is left alone; mesher.io/exclude-outbound-ports and the \
            like set the init step's MESHER_* variables. YAML comments are not kept.
            """)

    @Option(name: .shortAndLong, help: "Manifest file, or - for standard input.")
    var filename = "-"

    @Option(help: "Image of the init step and the sidecar.")
    var image = "mesher-init:latest"

    @Option(help: "ConfigMap holding mesher.yaml.")
    var configMap = "mesher-config"

    @Option(help: "Uid the sidecar runs as.")
    var proxyUid = Int(MesherDefaults.proxyUID)

    @Flag(help: "Sidecar as an ordinary container, for Kubernetes before 1.29.")
    var classic = false

    @Flag(help: "Fail-open capture (nfqueue mode): the sidecar keeps CAP_NET_ADMIN for its queue reader.")
    var failOpen = false

    func run() throws {
        let input: Data
        if filename == "-" {
            input = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let data = FileManager.default.contents(atPath: filename) else {
                throw ValidationError("--filename: cannot read '\(filename)'")
            }
            input = data
        }
        var options = Injector.Options()
        options.image = image
        options.configMap = configMap
        options.proxyUID = proxyUid
        options.nativeSidecar = !classic
        options.failOpen = failOpen
        print(try Injector.inject(String(decoding: input, as: UTF8.self), options: options), terminator: "")
    }
}
