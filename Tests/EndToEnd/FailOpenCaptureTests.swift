import Foundation
import Testing

/// nfqueue mode: connections are captured only while Mesher's queue reader marks them, so a Mesher that is
/// killed or not started yet never black-holes the app (REDIRECT mode, for contrast, refuses them:
/// OutboundCaptureTests.capturedTrafficFailsWhileMesherIsDownAndFlowsDirectAfterUninstall).
@Suite(.serialized)
struct FailOpenCaptureTests {
    @Test func noRequestFailsAcrossAKillAndARestart() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.mesherCommand(["init", "--capture-mode", "nfqueue"]).check("mesher init")
        #expect(try lab.natRules().contains("-m mark --mark 0x1000/0x1000 -j MESHER_REDIRECT"))
        let config = try lab.writeConfig("capture: {mode: nfqueue}\n", name: "nfqueue.yaml")
        var mesher = try lab.startMesher(["--config", config], netAdmin: true)

        let url = "http://\(lab.serverIPv4):8080/hello.txt"
        // The status only (000 when the request failed): the body goes to the pipe, not to /dev/null.
        let loop = "for i in $(seq 200); do curl -s -m 3 -w '\\n%{http_code}\\n' \(url) | tail -n 1; sleep 0.02; done"
        let requests = try lab.spawn(in: lab.client, uid: Lab.appUID, ["sh", "-c", loop], log: "requests")
        usleep(1_200_000)
        let capturedBeforeKill = lab.accessLog().count
        kill(mesher.processIdentifier, SIGKILL)
        mesher.waitUntilExit()
        usleep(1_200_000)
        mesher = try lab.startMesher(["--config", config], netAdmin: true)
        let capturedAfterRestart = lab.accessLog().count
        requests.waitUntilExit()

        let statuses = lab.log("requests").split(separator: "\n")
        #expect(statuses.count == 200)
        // The requests run one after another, so at most one is inside Mesher when it is killed, and that
        // one dies with it (as with any proxy). Every other one must pass: before, during the gap, after.
        let failed = statuses.enumerated().filter { $0.element != "200" }.map(\.offset)
        #expect(failed.count <= 1, "failed requests: \(failed) \(lab.log("mesher").suffix(600))")
        #expect(capturedBeforeKill > 0, "captured while Mesher ran")
        #expect(lab.accessLog().count > capturedAfterRestart, "captured again after the restart")
        #expect(lab.stop(mesher) == 0)
    }

    @Test func aQueueWithAReaderAlreadyIsRefusedNamingTheFallback() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let first = try lab.writeConfig("capture: {mode: nfqueue}\n", name: "first.yaml")
        try lab.startMesher(["--config", first], netAdmin: true)
        // Other ports, same queue.
        let second = try lab.writeConfig(
            "capture: {mode: nfqueue}\noutbound: {port: 16001}\ninbound: {enabled: false}\ndns: {enabled: false}\n"
                + "explicitProxy: {enabled: false}\nadmin: {enabled: false}\n", name: "second.yaml")
        let result = try lab.inClient([lab.mesher, "run", "--config", second], uid: nil, timeout: 10)
        #expect(result.status == 1)
        #expect(
            result.stderr.contains("already has a reader") && result.stderr.contains("--capture-mode redirect"),
            "\(result.stderr)")
    }
}
