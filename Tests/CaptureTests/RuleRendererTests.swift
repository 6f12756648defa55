import Foundation
import Testing

@testable import Capture

/// Each case renders the rules for one flag set and compares them with `Golden/<name>.rules`.
/// `MESHER_UPDATE_GOLDEN=1 swift test --filter CaptureTests` rewrites the files after a deliberate change.
struct RuleRendererTests {
    static let cases: [(String, @Sendable (inout CaptureSettings) throws -> Void)] = [
        ("default", { _ in }),
        ("outbound-port", { $0.outboundPort = 16001 }),
        ("proxy-uid", { $0.proxyUID = 2000 }),
        ("proxy-mark", { $0.proxyMark = 0x1234 }),
        ("capture-dns", { $0.captureDNS = true }),
        (
            "dns-port",
            {
                $0.captureDNS = true
                $0.dnsPort = 5353
            }
        ),
        (
            "include-outbound-cidrs",
            { $0.includeOutboundCIDRs = try CIDR.list(parsing: "198.18.0.0/15,240.240.0.0/16,2001:db8::/32") }
        ),
        ("include-outbound-cidrs-v4-only", { $0.includeOutboundCIDRs = try CIDR.list(parsing: "198.18.0.0/15") }),
        (
            "exclude-outbound-cidrs",
            { $0.excludeOutboundCIDRs = try CIDR.list(parsing: "198.18.5.0/24,2001:db8:1::/48") }
        ),
        ("exclude-outbound-ports", { $0.excludeOutboundPorts = try PortRange.list(parsing: "22,3306,8000-8010") }),
        (
            "exclude-outbound-ports-many",
            {
                $0.excludeOutboundPorts = try PortRange.list(
                    parsing: (1...20).map { "\(1000 + $0)" }.joined(separator: ","))
            }
        ),
        ("include-inbound-ports-none", { $0.includeInboundPorts = .none }),
        ("include-inbound-ports-list", { $0.includeInboundPorts = try PortSelection(parsing: "8080,9090") }),
        (
            "exclude-inbound-ports",
            {
                $0.includeInboundPorts = .all
                $0.excludeInboundPorts = try PortRange.list(parsing: "22")
            }
        ),
        ("capture-mode-nfqueue", { $0.mode = .nfqueue }),
        (
            "capture-mode-nfqueue-dns",
            {
                $0.mode = .nfqueue
                $0.captureDNS = true
                $0.queueNumber = 7
                $0.queueMark = 0x4000
            }
        ),
        (
            "inbound-port",
            {
                $0.includeInboundPorts = .all
                $0.inboundPort = 16006
            }
        ),
    ]

    @Test(arguments: cases.map(\.0))
    func rendersGolden(_ name: String) throws {
        var settings = CaptureSettings()
        try Self.cases.first { $0.0 == name }!.1(&settings)
        let rendered = [CIDR.Family.ipv4, .ipv6].map { family in
            let queue = RuleRenderer.queueRules(for: settings, family: family)
            return "# \(family)\n"
                + RestoreScript.install(RuleRenderer.rules(for: settings, family: family), replacing: InstalledRules())
                + (queue.rules.isEmpty
                    ? "" : RestoreScript.install(queue, replacing: InstalledRules(), table: "mangle"))
        }.joined()
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Golden/\(name).rules")
        if ProcessInfo.processInfo.environment["MESHER_UPDATE_GOLDEN"] == "1" {
            try rendered.write(to: url, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOf: url, encoding: .utf8)
        #expect(rendered == golden, "rules for \(name) differ from Golden/\(name).rules")
    }

    @Test func multiportGroupsRespectFifteenPortLimit() {
        let ranges = (1...14).map { PortRange(UInt16($0)) } + [try! PortRange(parsing: "100-200")]
        let groups = RuleRenderer.multiportGroups(ranges)
        #expect(groups.count == 2)
        #expect(groups[1] == "100:200")
    }

    @Test func proxyTrafficReturnsBeforeAnyRedirect() {
        var settings = CaptureSettings()
        settings.captureDNS = true
        let rules = RuleRenderer.rules(for: settings, family: .ipv4).rules.filter { $0.hasPrefix("-A MESHER_OUTPUT") }
        #expect(rules.first == "-A MESHER_OUTPUT -m owner --uid-owner 1337 -j RETURN")
        #expect(rules[1] == "-A MESHER_OUTPUT -m mark --mark 0x539 -j RETURN")
    }
}
