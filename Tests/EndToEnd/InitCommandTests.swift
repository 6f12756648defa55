import Foundation
import Testing

/// `mesher init` / `uninstall` against real iptables in a fresh namespace.
@Suite(.serialized)
struct InitCommandTests {
    /// Every flag at once must be accepted by the real iptables-restore.
    static let everyFlag = [
        "--outbound-port", "16001", "--inbound-port", "16006", "--dns-port", "16053", "--proxy-uid", "2000",
        "--proxy-mark", "0x77", "--capture-dns", "--include-outbound-cidrs",
        "198.18.0.0/15,240.240.0.0/16,2001:db8::/32",
        "--exclude-outbound-cidrs", "198.18.9.0/24,2001:db8:9::/48", "--exclude-outbound-ports", "22,8000-8010",
        "--include-inbound-ports", "*", "--exclude-inbound-ports", "2222", "--capture-mode", "nfqueue", "--queue-num",
        "9", "--queue-mark", "0x2000",
    ]

    @Test func initIsIdempotentAndUninstallRestoresTheTable() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        // Another tool's rules must survive both commands untouched.
        try lab.inClient(["iptables", "-t", "nat", "-A", "OUTPUT", "-d", "198.18.250.0/24", "-j", "RETURN"], uid: nil)
            .check("iptables")
        let before = try lab.natRules()
        let beforeV6 = try lab.natRules(ipv6: true)

        try lab.mesherCommand(["init"]).check("init")
        let once = try lab.natRules()
        try lab.mesherCommand(["init"]).check("init again")
        #expect(try lab.natRules() == once, "a second init must leave the same rules")
        #expect(once.split(separator: "\n").filter { $0 == "-A OUTPUT -j MESHER_OUTPUT" }.count == 1)

        try lab.mesherCommand(["init"] + Self.everyFlag).check("init with every flag")
        let full = try lab.natRules()
        #expect(full.contains("-A MESHER_IN_REDIRECT -p tcp -j REDIRECT --to-ports 16006"))
        #expect(full.contains("--to-ports 16053"))
        #expect(
            try lab.natRules(ipv6: true).contains(
                "-A MESHER_OUTPUT -d 2001:db8::/32 -p tcp -m mark --mark 0x2000/0x2000 -j MESHER_REDIRECT"))
        let mangle = try lab.inClient(["iptables-save", "-t", "mangle"], uid: nil).stdout
        #expect(mangle.contains("-A MESHER_QUEUE_OUTPUT -j NFQUEUE --queue-num 9 --queue-bypass"), "\(mangle)")

        try lab.mesherCommand(["init"]).check("back to defaults")
        #expect(try lab.natRules() == once, "re-init must drop chains the new settings do not use")
        #expect(try !lab.inClient(["iptables-save", "-t", "mangle"], uid: nil).stdout.contains("MESHER"))

        let removed = try lab.mesherCommand(["uninstall"])
        #expect(removed.status == 0 && removed.stdout.contains("removed"))
        #expect(try lab.natRules() == before)
        #expect(try lab.natRules(ipv6: true) == beforeV6)
        let again = try lab.mesherCommand(["uninstall"])
        #expect(again.status == 0 && again.stdout.contains("nothing was installed"))
    }

    /// A host whose rules are in iptables-legacy gets Mesher's rules there too; loopback down (a namespace
    /// that is still being set up) must not matter.
    @Test func followsTheIptablesVariantThatHoldsTheRules() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try sh(["ip", "-n", lab.client, "link", "set", "lo", "down"]).check("lo down")
        let legacyRule = ["iptables-legacy", "-t", "nat", "-A", "OUTPUT", "-d", "198.18.250.0/24", "-j", "RETURN"]
        try lab.inClient(legacyRule, uid: nil).check("iptables-legacy")
        let installed = try lab.mesherCommand(["init"])
        #expect(installed.status == 0, "\(installed.stderr)")
        #expect(installed.stdout.contains("iptables-legacy-restore"))
        let legacy = try lab.inClient(["iptables-legacy-save", "-t", "nat"], uid: nil).stdout
        let nft = try lab.inClient(["iptables-nft-save", "-t", "nat"], uid: nil).stdout
        #expect(legacy.contains("-A OUTPUT -j MESHER_OUTPUT"))
        #expect(!nft.contains("MESHER"))

        try lab.mesherCommand(["init", "--iptables-mode", "nft"]).check("init --iptables-mode nft")
        #expect(try lab.inClient(["iptables-nft-save", "-t", "nat"], uid: nil).stdout.contains("MESHER_OUTPUT"))
        try lab.mesherCommand(["uninstall", "--iptables-mode", "nft"]).check("uninstall nft")
        try lab.mesherCommand(["uninstall"]).check("uninstall legacy")
        let after = try lab.inClient(["iptables-legacy-save", "-t", "nat"], uid: nil).stdout
        #expect(!after.contains("MESHER") && after.contains("198.18.250.0/24"))
    }

    @Test func environmentVariablesConfigureInit() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let result = try lab.inClient(
            [
                "env", "MESHER_PROXY_UID=4242", "MESHER_EXCLUDE_OUTBOUND_PORTS=5432", "MESHER_CAPTURE_DNS=true",
                lab.mesher, "init",
            ],
            uid: nil)
        try result.check("init from environment")
        let rules = try lab.natRules()
        #expect(rules.contains("--uid-owner 4242"))
        #expect(rules.contains("--dports 5432"))
        #expect(rules.contains("--dport 53 -j REDIRECT --to-ports 15053"))
    }

    @Test func dryRunPrintsAndChangesNothing() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let before = try lab.natRules()
        let result = try lab.mesherCommand(["init", "--dry-run", "--exclude-outbound-ports", "22"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("-A MESHER_OUTPUT -p tcp -m multiport --dports 22 -j RETURN"))
        #expect(result.stdout.contains("COMMIT"))
        #expect(try lab.natRules() == before)
    }

    @Test func badInputIsRejectedBeforeAnyRuleIsApplied() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let before = try lab.natRules()
        for (arguments, message) in [
            (["init", "--exclude-outbound-cidrs", "10.0.0.0/33"], "--exclude-outbound-cidrs: '10.0.0.0/33'"),
            (["init", "--outbound-port", "70000"], "--outbound-port"),
            (["init", "--include-inbound-ports", "80,http"], "--include-inbound-ports"),
            (["init", "--no-such-flag"], "Unknown option '--no-such-flag'"),
            (["init", "--queue-mark", "0x1"], "--queue-mark: '0x1': overlaps the proxy mark"),
            (["init", "--capture-mode", "tproxy"], "--capture-mode: 'tproxy': expected redirect or nfqueue"),
        ] {
            let result = try lab.mesherCommand(arguments)
            #expect(result.status == 2, "\(arguments): exit \(result.status)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
        }
        #expect(try lab.natRules() == before)
    }

    @Test func initWithoutNetAdminSaysWhatIsMissing() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let result = try lab.inClient([lab.mesher, "init"], uid: Lab.appUID)
        #expect(result.status != 0)
        #expect(result.stderr.contains("CAP_NET_ADMIN"), "\(result.stderr)")
    }
}
