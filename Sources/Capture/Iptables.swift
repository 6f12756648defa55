import Foundation

/// The iptables tool set of the host: nft or legacy, chosen to match the rules already there.
public struct Iptables: Sendable {
    public enum Variant: String, Sendable, CaseIterable {
        case nft, legacy
        /// Whatever plain `iptables` is on this host.
        case system
    }

    public let variant: Variant

    public init(variant: Variant) {
        self.variant = variant
    }

    /// Picks the variant that already holds rules (as kube-proxy's iptables-wrapper does), so Mesher's rules
    /// live beside the others; a host with no rules gets plain `iptables`.
    public static func detect() async -> Iptables {
        func ruleCount(_ variant: Variant) async -> Int {
            let tool = Iptables(variant: variant).tool("save", .ipv4)
            guard let result = try? await Command.run(tool, []), result.status == 0 else { return -1 }
            return result.output.split(separator: "\n").count { $0.hasPrefix("-A ") }
        }
        let nft = await ruleCount(.nft)
        let legacy = await ruleCount(.legacy)
        if legacy > 0 && legacy > nft { return Iptables(variant: .legacy) }
        if nft > 0 { return Iptables(variant: .nft) }
        return Iptables(variant: .system)
    }

    public func tool(_ verb: String, _ family: CIDR.Family) -> String {
        let base = family == .ipv4 ? "iptables" : "ip6tables"
        return variant == .system ? "\(base)-\(verb)" : "\(base)-\(variant.rawValue)-\(verb)"
    }

    /// IPv6 rules are managed when the kernel has IPv6 and ip6tables is installed.
    public func hasIPv6() -> Bool {
        FileManager.default.fileExists(atPath: "/proc/net/if_inet6") && Command.find(tool("restore", .ipv6)) != nil
    }

    public func natTable(_ family: CIDR.Family) async throws(CaptureError) -> String {
        try await table("nat", family)
    }

    public func table(_ name: String, _ family: CIDR.Family) async throws(CaptureError) -> String {
        let tool = tool("save", family)
        let result = try await Command.run(tool, ["-t", name])
        guard result.status == 0 else { throw .toolFailed(tool, result.error) }
        return result.output
    }

    public func restore(_ script: String, _ family: CIDR.Family) async throws(CaptureError) {
        let tool = tool("restore", family)
        let result = try await Command.run(tool, ["--noflush", "--wait", "5"], input: script)
        guard result.status == 0 else { throw .toolFailed(tool, result.error) }
    }
}
