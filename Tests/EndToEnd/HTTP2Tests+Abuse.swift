import Foundation
import Testing

extension HTTP2Tests {
    static let flood = Lab.fixtures.appendingPathComponent("h2flood.py").path

    /// User plus system CPU of `pid` so far, in clock ticks.
    static func cpuTicks(_ pid: pid_t) -> Int {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let end = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12 else { return 0 }
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    /// Rapid reset (CVE-2023-44487): 5,000 streams opened and cancelled at once on one connection to GrpcService.
    /// Mesher closes the connection with GOAWAY (ENHANCE_YOUR_CALM, after 200 resets) within seconds, spends less
    /// than 3 s of CPU on the whole flood, grows by less than 48 MiB, and serves the next gRPC call.
    @Test func rapidResetIsCutShort() throws {
        let setup = try Self.setUp()
        let lab = setup.lab
        defer { lab.destroy() }
        #expect(try Self.grpc(lab, "calls", ["3"])["ok"] as? Int == 3, "warm-up")
        let pid = setup.mesher.processIdentifier
        let (ticks, resident) = (Self.cpuTicks(pid), Self.residentKiB(pid))
        let attack = try lab.spawn(
            in: lab.client, uid: Lab.appUID,
            [Self.python, Self.flood, lab.serverIPv4, "7300", Self.authority, "5000"], log: "flood")
        let peak = Self.peakResidentKiB(pid, while: attack)
        #expect(lab.stop(attack, signal: 0, timeout: 10) == 0, "\(lab.log("flood"))")
        usleep(1_000_000)  // what Mesher still had queued for the connection's streams
        let cpu = Double(Self.cpuTicks(pid) - ticks) / Double(sysconf(Int32(_SC_CLK_TCK)))
        let result = try Self.json(lab.log("flood"))

        #expect(result["goaway"] as? Bool == true && result["goaway_error"] as? Int == 11, "\(result)")
        let sent = result["sent"] as? Int ?? 5000
        #expect(sent < 5000 || (result["seconds"] as? Double ?? 99) < 5, "\(result)")
        #expect(cpu < 3, "Mesher spent \(cpu) s of CPU on the flood")
        #expect(peak - resident < 48 << 10, "Mesher grew by \((peak - resident) >> 10) MiB")
        #expect(setup.mesher.isRunning, "\(lab.log("mesher").suffix(2000))")
        let after = try Self.grpc(lab, "calls", ["5"])
        #expect(after["ok"] as? Int == 5, "\(after)")
    }
}

extension HTTP2Tests {
    /// An instance answering INTERNAL to every call is ejected like one answering 500 (5 in a row, on each of the
    /// two event loops): of 90 round-robin calls it gets 5 to 10 where it would get 30, each failing with its
    /// INTERNAL (not retried), and the ejection is counted.
    @Test func anInstanceAnsweringInternalIsEjected() throws {
        let lab = try Self.setUp(failing: ["g2": "INTERNAL"]).lab
        defer { lab.destroy() }
        let result = try Self.grpc(lab, "calls", ["90"])
        let failed = Self.served(lab, ["g2"])
        #expect((5...10).contains(failed), "g2 served \(failed) calls: \(result)")
        #expect(result["ok"] as? Int == 90 - failed && (result["by_status"] as? [String: Int])?["INTERNAL"] == failed)
        let metrics = try lab.inClient(["curl", "-sS", "-m", "5", "http://127.0.0.1:15000/metrics"])
        #expect(
            metrics.stdout.contains(#"mesher_ejections_total{service="grpcservice"}"#), "\(metrics.stdout.suffix(500))")
        #expect(
            metrics.stdout.contains(
                #"mesher_grpc_calls_total{direction="outbound",service="grpcservice",grpc_status="13"} "#))
    }
}
