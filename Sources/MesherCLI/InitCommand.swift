import ArgumentParser
import Capture
import Foundation

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Install the iptables rules that redirect the app's traffic to Mesher.",
        discussion:
            "Atomic (one iptables-restore per address family) and idempotent: running it again replaces Mesher's rules."
    )

    @OptionGroup var capture: CaptureOptions

    @Flag(help: "Print the iptables-restore input and change nothing.")
    var dryRun = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let settings = try capture.settings(environment: environment)
        let installer = try await CaptureCLI.installer(capture, environment: environment)
        if dryRun {
            for (family, script) in await CaptureCLI.previewScripts(installer, settings) {
                print("# \(installer.iptables.tool("restore", family)) --noflush")
                print(script, terminator: "")
            }
            return
        }
        try await installer.install(settings)
        let families = installer.families.map { $0 == .ipv4 ? "IPv4" : "IPv6" }.joined(separator: "+")
        print("mesher init: capture rules installed (\(families), \(installer.iptables.tool("restore", .ipv4)))")
    }
}

struct UninstallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall",
        abstract: "Remove Mesher's chains and the jumps to them, nothing else.")

    @Option(help: "iptables variant: auto, nft or legacy (default auto).")
    var iptablesMode: String?

    func run() async throws {
        var options = CaptureOptions()
        options.iptablesMode = iptablesMode
        let installer = try await CaptureCLI.installer(options, environment: ProcessInfo.processInfo.environment)
        let removed = try await installer.uninstall()
        print(removed ? "mesher uninstall: capture rules removed" : "mesher uninstall: nothing was installed")
    }
}

enum CaptureCLI {
    static func installer(_ options: CaptureOptions, environment: [String: String]) async throws -> CaptureInstaller {
        guard let iptables = try options.iptables(environment: environment) else { return await .forThisHost() }
        return CaptureInstaller(iptables: iptables, families: iptables.hasIPv6() ? [.ipv4, .ipv6] : [.ipv4])
    }

    /// What `init` would apply; when the current rules cannot be read (no CAP_NET_ADMIN), as on an empty table.
    static func previewScripts(_ installer: CaptureInstaller, _ settings: CaptureSettings) async -> [(
        CIDR.Family, String
    )] {
        if let scripts = try? await installer.installScripts(settings) { return scripts }
        return installer.families.map { family in
            (
                family,
                RestoreScript.install(RuleRenderer.rules(for: settings, family: family), replacing: InstalledRules())
            )
        }
    }
}
