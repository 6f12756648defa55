import Foundation
import Testing

extension HTTP2Tests {
    static let stall = Lab.fixtures.appendingPathComponent("h2stall.py").path

    /// An HTTP/1 instance (`protocol: http1`) answering every GET with 1 MiB.
    static let largeServer = """
        import http.server, sys
        BODY = b"x" * (1 << 20)
        class Large(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                try:
                    self.wfile.write(BODY)
                except OSError:
                    pass
            def log_message(self, *args):
                pass
        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 1024
        Server(("0.0.0.0", int(sys.argv[1])), Large).serve_forever()
        """

    /// Stalled readers (ten connections of 100 streams of 1 MiB each, every stream window at 0), twice, with
    /// `http.slowReaderBytes` 16 MiB and `slowReaderTimeout` 3 s: Mesher grows by less than 96 MiB (the held
    /// responses within their budget, and the thousand streams' and upstream connections' own state), resets the
    /// stalled streams after 3 s, and 10 s after the clients closed its resident size is within 16 MiB of what it
    /// was before, both times (glibc kept 40 MiB of it before `malloc_trim`).
    @Test func stalledReadersHoldBoundedMemoryThatComesBack() throws {
        let setup = try Self.setUp(traffic: Self.traffic + "http: {slowReaderBytes: 16MiB, slowReaderTimeout: 3s}\n")
        let lab = setup.lab
        defer { lab.destroy() }
        try Self.addHTTP1Service(lab, "Large", port: 7330, script: Self.largeServer, log: "large")
        let pid = setup.mesher.processIdentifier
        usleep(2_000_000)
        let idle = Self.residentKiB(pid)
        for round in 1...2 {
            let stalled = try lab.spawn(
                in: lab.client, uid: Lab.appUID,
                ["/usr/bin/python3", Self.stall, lab.serverIPv4, "7300", "Large:8080", "/", "10", "100", "8"],
                log: "stall\(round)")
            let peak = Self.peakResidentKiB(pid, while: stalled)
            #expect(lab.stop(stalled, signal: 0, timeout: 30) == 0, "\(lab.log("stall\(round)"))")
            usleep(10_000_000)
            let after = Self.residentKiB(pid)
            print(
                "round \(round): idle \(idle >> 10) MiB, peak \(peak >> 10) MiB, after \(after >> 10) MiB; \(lab.log("stall\(round)"))"
            )
            let result = try Self.json(lab.log("stall\(round)"))
            // Streams whose instance has not sent anything yet hold nothing and wait on: not all are reset in 8 s.
            let (resets, responses) = (result["resets"] as? Int ?? 0, result["responses"] as? Int ?? 0)
            #expect(responses >= 200 && resets * 2 >= responses, "stalled streams are reset after 3 s: \(result)")
            #expect(peak - idle < 96 << 10, "round \(round): \(idle >> 10) MiB idle, \(peak >> 10) MiB at the peak")
            #expect(after - idle < 16 << 10, "round \(round): \(idle >> 10) MiB idle, \(after >> 10) MiB after")
        }
    }
}
