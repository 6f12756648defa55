import Foundation
import Testing

/// A registry of 10,000 files, as a large mesh has: read once at start (one "registry in sync" line with its
/// size), then nothing spent on it while idle (no rescans: the directory is watched), and a new file routed
/// by name as soon as it is written. The figures themselves are `make bench-scale`'s.
@Suite(.serialized)
struct RegistryScaleTests {
    static func cpuTicks(_ pid: pid_t) -> Int {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        // After the command name in parentheses: state is field 3, utime and stime fields 14 and 15.
        let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
        return fields.count > 12 ? (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0) : 0
    }

    @Test func tenThousandFilesCostNothingIdleAndAChangeIsUsedAtOnce() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.startApp(name: "alpha", port: 7100)
        for index in 0..<10_000 {
            try lab.register(
                "svc-\(index).yaml",
                "services:\n  svc-\(index):\n    - {address: 198.18.\(100 + index / 250).\(index % 250 + 1), port: 8080}\n"
            )
        }
        try lab.register(
            "account.yaml", "services:\n  AccountService:\n    - {address: \(lab.serverIPv4), port: 7100}\n")
        let config = try lab.writeConfig("registry: {directory: \(lab.registryDirectory)}\n")
        try lab.mesherCommand(["init"]).check("mesher init")
        let mesher = try lab.startMesher(["--config", config])
        #expect(lab.eventually(timeout: 60) { lab.log("mesher").contains("registry in sync") }, "\(lab.log("mesher"))")
        let synced = lab.log("mesher").split(separator: "\n").filter { $0.contains("registry in sync") }
        #expect(synced.count == 1 && synced[0].contains("services=10001") && synced[0].contains("instances=10001"))
        func call(_ service: String) -> String {
            (try? lab.inClient([
                "curl", "-sS", "-m", "5", "--connect-to", "::\(lab.serverIPv4):8080", "http://\(service):8080/who",
            ]).stdout) ?? ""
        }
        #expect(call("AccountService").hasPrefix("alpha /who"))

        // Idle: no scan of 10,000 files every 250 ms (which took a fifth of a core), nothing but timers.
        Thread.sleep(forTimeInterval: 1)
        let before = Self.cpuTicks(mesher.processIdentifier)
        Thread.sleep(forTimeInterval: 3)
        let idle = Self.cpuTicks(mesher.processIdentifier) - before
        #expect(idle <= 6, "\(idle) ticks of CPU in 3 s idle (at most 2 % of a core)")

        // A new service: routed by name as soon as its file is in place, with one file read.
        try lab.register("new.yaml", "services:\n  NewService:\n    - {address: \(lab.serverIPv4), port: 7100}\n")
        #expect(lab.eventually(timeout: 5) { call("NewService").hasPrefix("alpha /who") }, "\(lab.log("mesher"))")
        let changed = lab.log("mesher").split(separator: "\n").filter { $0.contains("registry changed") }
        #expect(changed.count == 1 && changed[0].contains("changed=1"), "\(changed)")
        try FileManager.default.removeItem(atPath: lab.registryDirectory + "/new.yaml")
        #expect(lab.eventually(timeout: 5) { !call("NewService").hasPrefix("alpha /who") })
    }
}
