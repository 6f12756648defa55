/// Mesher's part of a nat table, as read back from iptables-save.
public struct InstalledRules: Equatable, Sendable {
    /// `MESHER_*` chains that exist.
    public var chains: [String] = []
    /// Rules outside Mesher's chains that jump to one of them, in save syntax ("-A OUTPUT -j MESHER_OUTPUT").
    public var jumps: [String] = []

    public init() {}

    public init(natTableSave save: String) {
        for line in save.split(separator: "\n") {
            if line.hasPrefix(":" + RuleRenderer.chainPrefix) {
                chains.append(String(line.dropFirst().prefix { $0 != " " }))
            } else if line.hasPrefix("-A ") {
                let words = line.split(separator: " ")
                let chain = words.count > 1 ? words[1] : ""
                let target = zip(words, words.dropFirst()).first { $0.0 == "-j" || $0.0 == "-g" }?.1
                if !chain.hasPrefix(RuleRenderer.chainPrefix), target?.hasPrefix(RuleRenderer.chainPrefix) == true {
                    jumps.append(String(line))
                }
            }
        }
    }

    public var isEmpty: Bool { chains.isEmpty && jumps.isEmpty }
}

/// Builds iptables-restore input (used with `--noflush`) that changes Mesher's chains and nothing else.
public enum RestoreScript {
    /// Replaces whatever Mesher had installed with `lines`, in one transaction: declaring a chain
    /// flushes it, old jumps are deleted before the new ones are appended, chains no longer used are removed.
    public static func install(_ lines: RuleLines, replacing installed: InstalledRules, table: String = "nat") -> String
    {
        var out = ["# mesher init: transparent capture rules", "*\(table)"]
        out += lines.chains.map { ":\($0) - [0:0]" }
        out += installed.jumps.map(deleting)
        let stale = installed.chains.filter { !lines.chains.contains($0) }
        out += stale.map { "-F \($0)" }
        out += stale.map { "-X \($0)" }
        out += lines.rules
        out.append("COMMIT")
        return out.joined(separator: "\n") + "\n"
    }

    /// Removes Mesher's jumps and chains; `nil` when nothing is installed.
    public static func uninstall(_ installed: InstalledRules, table: String = "nat") -> String? {
        guard !installed.isEmpty else { return nil }
        var out = ["# mesher uninstall", "*\(table)"]
        out += installed.jumps.map(deleting)
        out += installed.chains.map { "-F \($0)" }
        out += installed.chains.map { "-X \($0)" }
        out.append("COMMIT")
        return out.joined(separator: "\n") + "\n"
    }

    private static func deleting(_ appendRule: String) -> String { "-D" + appendRule.dropFirst(2) }
}
