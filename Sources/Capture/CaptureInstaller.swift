import Foundation
import MesherBase

/// Installs and removes Mesher's capture rules, one atomic iptables-restore per address family.
public struct CaptureInstaller: Sendable {
    public let iptables: Iptables
    public let families: [CIDR.Family]

    public init(iptables: Iptables, families: [CIDR.Family]) {
        self.iptables = iptables
        self.families = families
    }

    /// Detects the iptables variant and whether IPv6 rules are needed.
    public static func forThisHost() async -> CaptureInstaller {
        let iptables = await Iptables.detect()
        return CaptureInstaller(iptables: iptables, families: iptables.hasIPv6() ? [.ipv4, .ipv6] : [.ipv4])
    }

    /// The exact iptables-restore input `install` would apply, per family.
    public func installScripts(_ settings: CaptureSettings) async throws(CaptureError) -> [(CIDR.Family, String)] {
        var scripts: [(CIDR.Family, String)] = []
        for family in families {
            var script = RestoreScript.install(
                RuleRenderer.rules(for: settings, family: family),
                replacing: InstalledRules(natTableSave: try await iptables.natTable(family)))
            // The mangle table holds the NFQUEUE rules; a change back to redirect mode takes them away.
            let queueRules = RuleRenderer.queueRules(for: settings, family: family)
            let queueInstalled = InstalledRules(natTableSave: try await iptables.table("mangle", family))
            if !queueRules.rules.isEmpty || !queueInstalled.isEmpty {
                script += RestoreScript.install(queueRules, replacing: queueInstalled, table: "mangle")
            }
            scripts.append((family, script))
        }
        return scripts
    }

    public func install(_ settings: CaptureSettings) async throws(CaptureError) {
        try Self.requireNetAdmin()
        var applied: [CIDR.Family] = []
        for (family, script) in try await installScripts(settings) {
            do {
                try await iptables.restore(script, family)
                applied.append(family)
            } catch {
                if applied.isEmpty { throw error }
                for done in applied { _ = try? await uninstall(family: done) }
                throw .rolledBack(error.description)
            }
        }
    }

    /// Removes Mesher's chains and the jumps to them; returns whether anything was installed.
    @discardableResult
    public func uninstall() async throws(CaptureError) -> Bool {
        try Self.requireNetAdmin()
        var removed = false
        for family in families where try await uninstall(family: family) { removed = true }
        return removed
    }

    private func uninstall(family: CIDR.Family) async throws(CaptureError) -> Bool {
        var script = ""
        for table in ["nat", "mangle"] {
            let installed = InstalledRules(natTableSave: try await iptables.table(table, family))
            script += RestoreScript.uninstall(installed, table: table) ?? ""
        }
        guard !script.isEmpty else { return false }
        try await iptables.restore(script, family)
        return true
    }

    /// The mode of the rules installed in this network namespace, or `nil` when there are none or they cannot
    /// be read (that needs CAP_NET_ADMIN). nfqueue mode is the one with rules in the mangle table.
    public static func installedMode() async -> CaptureMode? {
        guard (try? requireNetAdmin()) != nil else { return nil }
        let iptables = await Iptables.detect()
        if let mangle = try? await iptables.table("mangle", .ipv4), !InstalledRules(natTableSave: mangle).isEmpty {
            return .nfqueue
        }
        if let nat = try? await iptables.natTable(.ipv4), !InstalledRules(natTableSave: nat).isEmpty {
            return .redirect
        }
        return nil
    }

    /// iptables only says "Permission denied (you must be root)"; say what is actually needed.
    static func requireNetAdmin() throws(CaptureError) {
        let capNetAdmin: UInt64 = 1 << 12
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
            let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return }
        if mask & capNetAdmin == 0 { throw .missingCapability }
    }
}
