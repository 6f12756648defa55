import Foundation
import Testing

/// `mesher run --capture`: one process installs the rules, serves, and takes the rules away when it stops.
@Suite(.serialized)
struct AllInOneTests {
    @Test func runWithCaptureInstallsAndRemovesTheRules() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let before = try lab.natRules()
        let mesher = try lab.startMesher(["--capture"], asRoot: true)
        #expect(lab.eventually { ((try? lab.natRules()) ?? "").contains("-A OUTPUT -j MESHER_OUTPUT") })
        let url = "http://\(lab.serverIPv4):8080/hello.txt"
        let get = try lab.inClient(["curl", "-sS", "-m", "10", url])
        #expect(get.stdout == "hello from the server\n", "\(get.stderr)")
        #expect(lab.accessLogHas { $0.contains(#""dst":"\#(lab.serverIPv4):8080","dir":"outbound""#) })

        #expect(lab.stop(mesher) == 0, "\(lab.log("mesher"))")
        #expect(try lab.natRules() == before, "no rule left behind after SIGTERM")
        #expect(try !lab.natRules(ipv6: true).contains("MESHER"))
        let direct = try lab.inClient(["curl", "-sS", "-m", "5", url])
        #expect(direct.stdout == "hello from the server\n", "traffic goes direct again: \(direct.stderr)")
    }

    @Test func aCrashLeavesTheRulesButNotABlackHole() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let mesher = try lab.startMesher(["--capture"], asRoot: true)
        #expect(lab.eventually { ((try? lab.natRules()) ?? "").contains("-m mark --mark 0x1000/0x1000") })
        kill(mesher.processIdentifier, SIGKILL)
        mesher.waitUntilExit()
        #expect(try lab.natRules().contains("MESHER_OUTPUT"), "SIGKILL gave it no chance to clean up")
        let get = try lab.inClient(["curl", "-sS", "-m", "5", "http://\(lab.serverIPv4):8080/hello.txt"])
        #expect(get.stdout == "hello from the server\n", "fail-open: \(get.stderr)")
    }
}
