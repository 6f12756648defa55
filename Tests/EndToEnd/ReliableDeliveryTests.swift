import Foundation
import Testing

/// Reliable delivery against instances that misbehave on purpose: one answers every request with 500, one
/// refuses connections (nothing listens on its port), two are healthy.
@Suite(.serialized)
struct ReliableDeliveryTests {
    static let failing = """
        import http.server, sys
        class Failing(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_GET(self):
                self.send_response(500)
                self.send_header("Content-Length", "5")
                self.end_headers()
                self.wfile.write(b"fail\\n")
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.do_GET()
            def log_message(self, *args):
                print("request", flush=True)
        http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Failing).serve_forever()
        """

    /// A lab whose server runs what `servers` starts (it returns the registry file), and a Mesher with
    /// `traffic` (one event loop: ejection is per loop).
    /// `captureDNS`: service names resolve to virtual IPs through Mesher.
    func lab(traffic: String, captureDNS: Bool = false, servers: (Lab) throws -> String) throws -> Lab {
        let lab = try Lab()
        do {
            if captureDNS { try lab.useServerAsResolver(knowing: "example.test") }
            try lab.register("services.yaml", try servers(lab))
            let config = try lab.writeConfig(
                "registry: {directory: \(lab.registryDirectory)}\nthreads: 1\n"
                    + (captureDNS ? "routing: {virtualIPRange: 240.240.0.0/16}\n" : "") + traffic)
            try lab.mesherCommand(["init"] + (captureDNS ? ["--capture-dns"] : [])).check("mesher init")
            try lab.startMesher(["--config", config])
        } catch {
            lab.destroy()
            throw error
        }
        return lab
    }

    /// The four instances of FlakyService (and AllFailing, its failing one alone).
    func lab(traffic: String = "") throws -> Lab {
        try lab(traffic: traffic) { lab in
            try lab.startApp(name: "alpha", port: 7100)
            try lab.startApp(name: "beta", port: 7101)
            let failing = try lab.spawn(
                in: lab.server, ["/usr/bin/python3", "-c", Self.failing, "7102"], log: "failing")
            try lab.waitForListener(in: lab.server, port: 7102, process: failing)
            return """
                services:
                  FlakyService:
                    - {address: \(lab.serverIPv4), port: 7100}
                    - {address: \(lab.serverIPv4), port: 7101}
                    - {address: \(lab.serverIPv4), port: 7102}
                    - {address: \(lab.serverIPv4), port: 7103}
                  AllFailing:
                    - {address: \(lab.serverIPv4), port: 7102}
                """
        }
    }

    /// The requests a server of this suite logged: its "request" lines, and nothing else it may print (Python
    /// reports a connection Mesher dropped midway as "Exception occurred during processing of request ...").
    func requestsSeen(_ lab: Lab, _ server: String) -> Int {
        lab.log(server).split(separator: "\n").filter { $0 == "request" }.count
    }

    /// `count` GETs (or requests with `extra` curl options) to `service` on one keep-alive connection (each
    /// routed on its own); their statuses.
    func statuses(
        _ lab: Lab, count: Int, service: String = "FlakyService", extra: [String] = []
    ) throws -> [String] {
        let urls = Array(repeating: "http://\(service):8080/who", count: count)
        let result = try lab.inClient(
            ["curl", "-sS", "-m", "60", "--connect-to", "::\(lab.serverIPv4):8080", "-w", "%{http_code}\\n"] + extra
                + urls.flatMap { ["-o", "/dev/null", $0] })
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    /// The defaults (ewma), and round robin, which sends the refusing instance its share: no request fails on
    /// the refusing instance (its failed connects go to another instance), and the failing one answers at most
    /// `consecutiveFailures` (5) requests before it is ejected. Round robin is sure to reach the failing
    /// instance; ewma may never pick it (once the healthy ones answered fast, the unmeasured one loses every
    /// comparison), so only round robin must show the ejection.
    @Test(arguments: ["", "traffic: {defaults: {loadBalancer: round-robin}}\n"])
    func connectsAreRetriedAndTheFailingInstanceEjected(_ traffic: String) throws {
        let lab = try lab(traffic: traffic)
        defer { lab.destroy() }
        let statuses = try statuses(lab, count: 80)
        #expect(statuses.count == 80)
        #expect(!statuses.contains("502") && !statuses.contains("503"), "\(statuses)")
        let served = statuses.filter { $0 == "500" }.count
        #expect(served <= 5, "500s before the ejection: \(statuses)")
        #expect(statuses.filter { $0 == "200" }.count == 80 - served)
        #expect(requestsSeen(lab, "failing") == served)
        guard !traffic.isEmpty || served == 5 else { return }
        #expect(served >= 1, "round robin reaches the failing instance: \(statuses)")
        let mesherLog = lab.log("mesher")
        #expect(mesherLog.contains("instance ejected after consecutive failures"), "\(mesherLog.suffix(2000))")
        #expect(mesherLog.contains(":7102"), "the failing instance is named")
    }

    /// With `on: [5xx]` (round robin, ejection off so that the failing instance keeps its share) every GET
    /// succeeds: a 500 is tried again on another instance, and the access log counts the tries.
    @Test func retriesOn5xxLeaveNoGETFailing() throws {
        let lab = try lab(
            traffic: """
                traffic:
                  defaults: {loadBalancer: round-robin, retries: {on: [connect-failure, 5xx]}, outlierDetection: {consecutiveFailures: 0}}

                """)
        defer { lab.destroy() }
        let statuses = try statuses(lab, count: 60)
        #expect(statuses.count == 60 && statuses.allSatisfy { $0 == "200" }, "\(statuses)")
        #expect(requestsSeen(lab, "failing") >= 5, "the failing one got its share")
        #expect(lab.accessLogHas { $0.contains(#""status":200"#) && $0.contains(#""attempts":2"#) })
    }

    /// A POST is never sent twice, whatever `on` says: each one the failing instance answered reached it once.
    @Test func aPOSTArrivesExactlyOnce() throws {
        let lab = try lab(
            traffic: """
                traffic:
                  defaults: {loadBalancer: round-robin, retries: {on: [connect-failure, 5xx]}, outlierDetection: {consecutiveFailures: 0}}

                """)
        defer { lab.destroy() }
        let statuses = try statuses(lab, count: 40, extra: ["-X", "POST", "-d", "payment=1"])
        let failed = statuses.filter { $0 == "500" }.count
        #expect(failed >= 5, "round robin gives the failing instance its share of POSTs: \(statuses)")
        #expect(requestsSeen(lab, "failing") == failed, "\(statuses)")
        #expect(!statuses.contains("502"), "a failed connect is retried for a POST too: nothing reached an app")
    }

    /// Every instance failing and 5 tries allowed per request: the budget (20 % of requests, plus 10 per
    /// second) keeps the upstream load near the request count, not 6 times it.
    @Test func theBudgetCapsRetriesWhenEveryInstanceFails() throws {
        let lab = try lab(traffic: "traffic: {defaults: {retries: {attempts: 5, on: [5xx]}}}\n")
        defer { lab.destroy() }
        let started = Date()
        let statuses = try statuses(lab, count: 100, service: "AllFailing")
        let seconds = Date().timeIntervalSince(started)
        #expect(statuses.count == 100 && statuses.allSatisfy { $0 == "500" }, "\(statuses)")
        let upstream = requestsSeen(lab, "failing")
        #expect(upstream >= 110, "some retries went: \(upstream)")
        #expect(Double(upstream) <= 100 * 1.2 + 10 * (seconds + 1) + 1, "\(upstream) in \(seconds) s")
    }

    /// Without retries and ejection, round robin sends a share of the requests to each bad instance: what the
    /// defaults prevent above.
    @Test func withoutRetriesOrEjectionTheBadInstancesFailRequests() throws {
        let lab = try lab(
            traffic: """
                traffic:
                  defaults: {loadBalancer: round-robin, retries: {attempts: 0}, outlierDetection: {consecutiveFailures: 0}}

                """)
        defer { lab.destroy() }
        let statuses = try statuses(lab, count: 80)
        #expect(statuses.filter { $0 == "502" || $0 == "503" }.count >= 10, "\(statuses)")
        #expect(statuses.filter { $0 == "500" }.count >= 10, "\(statuses)")
    }

    static let slow = """
        import http.server, sys, time
        class Slow(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_GET(self):
                print("request", flush=True)
                time.sleep(float(sys.argv[2]))
                self.send_response(200)
                self.send_header("Content-Length", "5")
                self.end_headers()
                self.wfile.write(b"slow\\n")
            def log_message(self, *args):
                pass
        http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Slow).serve_forever()
        """

    /// `count` GETs to SlowService at once, each on its own connection (the first 0.3 s ahead with `ahead`):
    /// "status seconds x-mesher-error" each.
    static let concurrentClient = """
        import http.client, sys, threading, time
        host, count, ahead = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "ahead"
        results = []
        def call():
            start = time.time()
            c = http.client.HTTPConnection(host, 8080, timeout=10)
            c.request("GET", "/", headers={"Host": "SlowService:8080"})
            r = c.getresponse()
            r.read()
            results.append("%d %.2f %s" % (r.status, time.time() - start, r.getheader("x-mesher-error", "-")))
        threads = [threading.Thread(target=call) for _ in range(count)]
        for i, t in enumerate(threads):
            t.start()
            if i == 0 and ahead: time.sleep(0.3)
        for t in threads: t.join()
        print("\\n".join(results), flush=True)
        """

    /// SlowService (one instance answering after 1.5 s) and MixedService (it and a healthy one).
    func slowLab(traffic: String) throws -> Lab {
        try lab(traffic: traffic) { lab in
            let slow = try lab.spawn(
                in: lab.server, ["/usr/bin/python3", "-c", Self.slow, "7200", "1.5"], log: "slow")
            try lab.waitForListener(in: lab.server, port: 7200, process: slow)
            try lab.startApp(name: "alpha", port: 7100)
            return """
                services:
                  SlowService:
                    - {address: \(lab.serverIPv4), port: 7200}
                  MixedService:
                    - {address: \(lab.serverIPv4), port: 7200}
                    - {address: \(lab.serverIPv4), port: 7100}
                """
        }
    }

    func callConcurrently(
        _ lab: Lab, _ count: Int, firstAhead: Bool = false
    ) throws -> [(status: Int, seconds: Double, error: String)] {
        let result = try lab.inClient([
            "/usr/bin/python3", "-c", Self.concurrentClient, lab.serverIPv4, "\(count)", firstAhead ? "ahead" : "-",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return (Int(parts[0]) ?? 0, Double(parts[1]) ?? -1, String(parts[2]))
        }
    }

    /// A response head that does not come within the service's `requestTimeout` is a 504 at that time.
    @Test func requestTimeoutAnswers504InTime() throws {
        let lab = try slowLab(traffic: "traffic: {services: {SlowService: {requestTimeout: 300ms}}}\n")
        defer { lab.destroy() }
        let results = try callConcurrently(lab, 1)
        #expect(results.count == 1)
        #expect(results.first?.status == 504 && results.first?.error == "request-timeout", "\(results)")
        #expect((0.25...1.2).contains(results.first?.seconds ?? -1), "\(results)")
        #expect(lab.accessLogHas { $0.contains(#""error":"request-timeout""#) && $0.contains(#""status":504"#) })
    }

    /// `perTryTimeout: 200ms` with round robin over a slow (1.5 s) and a healthy instance: a try that does not
    /// answer in time goes to the other instance (after its backoff), so 6 GETs take about 0.2 s each at worst.
    @Test func aSlowTryGoesToAnotherInstance() throws {
        let lab = try slowLab(
            traffic: """
                traffic:
                  services:
                    MixedService: {loadBalancer: round-robin, retries: {perTryTimeout: 200ms, on: [connect-failure, gateway-error]}}

                """)
        defer { lab.destroy() }
        let started = Date()
        let statuses = try statuses(lab, count: 6, service: "MixedService")
        let seconds = Date().timeIntervalSince(started)
        #expect(statuses == Array(repeating: "200", count: 6), "\(statuses)")
        #expect(seconds < 3.5, "no try waited for the slow answer: \(seconds) s")
        #expect(lab.accessLogHas { $0.contains(#""service":"mixedservice""#) && $0.contains(#""attempts":2"#) })
    }

    /// With `maxRequests: 2`, the third and later requests in flight are answered 503 `overflow` at once
    /// instead of waiting behind the slow ones; the two admitted ones complete.
    @Test func maxRequestsShedsLoadAtOnce() throws {
        let lab = try slowLab(traffic: "traffic: {defaults: {circuitBreaker: {maxRequests: 2}}}\n")
        defer { lab.destroy() }
        let results = try callConcurrently(lab, 6)
        #expect(results.count == 6, "\(results)")
        let admitted = results.filter { $0.status == 200 }
        let shed = results.filter { $0.status == 503 && $0.error == "overflow" }
        #expect(admitted.count == 2 && shed.count == 4, "\(results)")
        #expect(shed.allSatisfy { $0.seconds < 1 }, "shed at once: \(results)")
        #expect(admitted.allSatisfy { $0.seconds >= 1.4 }, "\(results)")
    }
}
