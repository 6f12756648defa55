import Foundation
import Testing

extension HTTP2Tests {
    /// SIGTERM while a call streams: Mesher sends GOAWAY, the call under way finishes whole (within the 5 s
    /// drain), and Mesher exits cleanly once it has.
    @Test func aDrainLetsTheStreamUnderWayFinish() throws {
        let setup = try Self.setUp()
        let lab = setup.lab
        defer { lab.destroy() }
        let total = 8 << 20
        let reader = try lab.spawn(
            in: lab.client, uid: Lab.appUID,
            Self.client(lab, "stream", ["\(total)", "65536", "--read-delay", "0.012", "--timeout", "60"]),
            log: "stream")
        #expect(lab.eventually { Self.served(lab, ["g1", "g2", "g3"], "Stream") == 1 }, "the stream began")
        usleep(300_000)
        #expect(lab.stop(setup.mesher, signal: SIGTERM, timeout: 15) == 0, "\(lab.log("mesher").suffix(2000))")
        #expect(lab.stop(reader, signal: 0, timeout: 10) == 0, "\(lab.log("stream"))")
        let result = try Self.json(lab.log("stream"))
        #expect(result["bytes"] as? Int == total && result["code"] as? String == "OK", "\(result)")
        #expect(lab.accessLogHas { $0.contains(#""path":"/mesh.Echo/Stream""#) && $0.contains(#""grpc_status":0"#) })
    }
}
