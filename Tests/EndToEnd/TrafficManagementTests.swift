import Foundation
import Testing

/// Route rules against real instances: AccountService has two 1.0.0 instances (v1a, v1b) and one 2.0.0
/// (v2) in the server namespace, each echoing what it received (`echo.py`).
@Suite(.serialized)
struct TrafficManagementTests {
    static let routes = """
        traffic:
          services:
            # Every instance gets its turn and every 500 stays visible (ewma would shun an instance a test made
            # slow or failing, and ejection would take it out); the retry budget pays for each retry asked for.
            AccountService:
              loadBalancer: round-robin
              outlierDetection: {consecutiveFailures: 0}
              retries: {budget: {ratio: 1.0}}
        routes:
          AccountService:
            - match: {headers: {x-canary: {exact: "1"}}}
              to: [{version: 2.0.0}]
            - match: {path: {regex: "^/admin"}}
              directResponse: {status: 403, body: "forbidden\\n"}
            - match: {path: {prefix: /v2/}, method: GET}
              to: [{version: 2.0.0}]
              rewrite: {prefix: /}
              requestHeaders: {set: {x-route: v2}, remove: [x-debug]}
            - match: {path: {prefix: /fault/}}
              fault: {delay: {fixed: 30ms, percent: 20}, abort: {status: 503, percent: 10}}
            - match: {path: {prefix: /limited/}}
              rateLimit: {requestsPerSecond: 100, burst: 10}
            - match: {path: {prefix: /slow/}}
              timeout: 300ms
            - match: {path: {prefix: /flaky/}}
              to: [{version: 1.0.0}]
              retries: {attempts: 2, on: [5xx]}
            - to: [{version: 1.0.0, weight: 90}, {version: 2.0.0, weight: 10}]
              requestHeaders: {add: {x-route: default}}

        """

    /// The three instances, the registry, and a Mesher with `config` (two event loops).
    static func lab(config: String = routes) throws -> Lab {
        try labAndMesher(config: config).lab
    }

    static func labAndMesher(config: String) throws -> (lab: Lab, mesher: Child) {
        let lab = try Lab()
        let mesher: Child
        do {
            let echo = Lab.fixtures.appendingPathComponent("echo.py").path
            for (name, port) in [("v1a", 7200), ("v1b", 7201), ("v2", 7202)] {
                let app = try lab.spawn(
                    in: lab.server, ["/usr/bin/python3", echo, "0.0.0.0", "\(port)", name], log: name)
                try lab.waitForListener(in: lab.server, port: port, process: app)
            }
            try lab.register(
                "services.yaml",
                """
                services:
                  AccountService:
                    - {address: \(lab.serverIPv4), port: 7200, version: 1.0.0}
                    - {address: \(lab.serverIPv4), port: 7201, version: 1.0.0}
                    - {address: \(lab.serverIPv4), port: 7202, version: 2.0.0}
                """)
            let path = try lab.writeConfig("registry: {directory: \(lab.registryDirectory)}\nthreads: 2\n" + config)
            try lab.mesherCommand(["init"]).check("mesher init")
            mesher = try lab.startMesher(["--config", path])
        } catch {
            lab.destroy()
            throw error
        }
        return (lab, mesher)
    }

    /// curl to AccountService (through the capture) with `options`; one output line per URL as `format` says.
    static func curl(_ lab: Lab, _ paths: [String], format: String, _ options: [String] = []) throws -> [String] {
        let result = try lab.inClient(
            ["curl", "-sS", "-m", "120", "--path-as-is", "--connect-to", "::\(lab.serverIPv4):8080", "-w", format]
                + options + paths.flatMap { ["-o", "/dev/null", "http://AccountService:8080\($0)"] })
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    /// One request's echoed JSON.
    static func echo(_ lab: Lab, _ path: String, _ options: [String] = []) throws -> [String: Any] {
        let result = try lab.inClient(
            ["curl", "-sS", "-m", "10", "--path-as-is", "--connect-to", "::\(lab.serverIPv4):8080"] + options
                + ["http://AccountService:8080\(path)"])
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return try #require(object, "\(result.stdout) \(result.stderr)")
    }

    @Test func matchesSubsetsEditsAndDirectResponses() throws {
        let lab = try Self.lab()
        defer { lab.destroy() }
        // Header match: every canary request to the 2.0.0 instance.
        let canary = try Self.curl(
            lab, Array(repeating: "/", count: 30), format: "%{http_code}\n", ["-H", "x-canary: 1"])
        #expect(canary.count == 30 && canary.allSatisfy { $0 == "200" })
        #expect(lab.log("v2").split(separator: "\n").count == 30, "all 30 at v2")
        // Rewrite and header edits, as the instance saw them.
        let edited = try Self.echo(lab, "/v2/hello?x=1", ["-H", "X-Debug: 1", "-H", "X-Route: client"])
        let headers = edited["headers"] as? [String: String] ?? [:]
        #expect(edited["name"] as? String == "v2" && edited["path"] as? String == "/hello?x=1", "\(edited)")
        #expect(headers["x-route"] == "v2" && headers["x-debug"] == nil, "\(headers)")
        let plain = try Self.echo(lab, "/plain")
        #expect((plain["headers"] as? [String: String])?["x-route"] == "default")
        // Direct response, also for spellings that an app would read as /admin (Tomcat and Spring drop `;params`).
        for path in ["/admin/users", "//admin", "/./admin", "/%61dmin", "/x/../admin", "/;/admin", "/x/..;/admin"] {
            let answer = try lab.inClient(
                [
                    "curl", "-sS", "-i", "-m", "10", "--path-as-is", "--connect-to", "::\(lab.serverIPv4):8080",
                    "http://AccountService:8080\(path)",
                ])
            #expect(answer.stdout.hasPrefix("HTTP/1.1 403 Forbidden\r\n"), "\(path): \(answer.stdout)")
            #expect(answer.stdout.hasSuffix("\r\n\r\nforbidden\n"))
        }
        #expect(
            !lab.log("v1a").contains("admin") && !lab.log("v1b").contains("admin") && !lab.log("v2").contains("admin"))
        #expect(lab.accessLogHas { $0.contains(#""route":"accountservice#1""#) && $0.contains(#""status":403"#) })
        #expect(lab.accessLogHas { $0.contains(#""route":"accountservice#2""#) && $0.contains(#""status":200"#) })
    }

    /// A route's timeout and retries over the service's defaults (15 s; connect failures only): a slow answer
    /// is cut at 300 ms, and a 500 from one 1.0.0 instance is tried again on the other, while the same 500
    /// outside that route reaches the client.
    @Test func routeTimeoutAndRetriesOverrideTheService() throws {
        let lab = try Self.lab()
        defer { lab.destroy() }
        let slow = try Self.curl(lab, ["/slow/x?sleep=2000"], format: "%{http_code} %{time_total}\n")
        let fields = slow.first?.split(separator: " ") ?? []
        #expect(fields.first == "504" && (Double(fields.last ?? "") ?? 9) < 1.5, "\(slow)")
        #expect(lab.accessLogHas { $0.contains(#""error":"request-timeout""#) && $0.contains("/slow/x") })
        let flaky = try Self.curl(lab, Array(repeating: "/flaky/x?fail=v1a", count: 30), format: "%{http_code}\n")
        #expect(flaky.count == 30 && flaky.allSatisfy { $0 == "200" }, "\(flaky)")
        #expect(lab.accessLogHas { $0.contains("/flaky/x") && $0.contains(#""attempts":2"#) })
        let plain = try Self.curl(lab, Array(repeating: "/plain?fail=v1a", count: 30), format: "%{http_code}\n")
        #expect(plain.contains("500"), "without the route's retries, v1a's 500s reach the client: \(plain)")
    }

    /// 90/10 per request on one keep-alive connection (a weight per connection would send all 2,000 to one).
    @Test func weightsSplitRequestsOnOneConnection() throws {
        let lab = try Self.lab()
        defer { lab.destroy() }
        let lines = try Self.curl(lab, Array(repeating: "/w", count: 2_000), format: "%{http_code} %{num_connects}\n")
        #expect(lines.count == 2_000 && lines.allSatisfy { $0.hasPrefix("200 ") })
        #expect(lines.map { Int($0.split(separator: " ")[1]) ?? 0 }.reduce(0, +) == 1, "one connection")
        let v2 = lab.log("v2").split(separator: "\n").count
        let v1 = lab.log("v1a").split(separator: "\n").count + lab.log("v1b").split(separator: "\n").count
        #expect(v1 + v2 == 2_000)
        // 10 % ± 2.5 points (the spread of 2,000 draws is 0.67 points).
        #expect((150...250).contains(v2), "v2 got \(v2) of 2,000")
    }

    /// 10 % aborted with 503 `fault-abort`, 20 % of the rest delayed by 30 ms, both within ±3 points.
    @Test func faultsHitTheirShare() throws {
        let lab = try Self.lab()
        defer { lab.destroy() }
        let count = 2_000
        let lines = try Self.curl(
            lab, Array(repeating: "/fault/x", count: count), format: "%{http_code} %{time_total}\n")
        #expect(lines.count == count)
        let aborted = lines.filter { $0.hasPrefix("503 ") }.count
        let answered = lines.filter { $0.hasPrefix("200 ") }
        let delayed = answered.filter { (Double($0.split(separator: " ")[1]) ?? 0) >= 0.029 }.count
        #expect(aborted + answered.count == count)
        #expect(abs(Double(aborted) / Double(count) - 0.10) <= 0.03, "aborted \(aborted) of \(count)")
        #expect(abs(Double(delayed) / Double(answered.count) - 0.20) <= 0.03, "delayed \(delayed) of \(answered.count)")
        #expect(lab.accessLogHas { $0.contains(#""error":"fault-abort""#) && $0.contains(#""status":503"#) })
        let metrics = try lab.inClient(["curl", "-sS", "http://127.0.0.1:15000/metrics"])
        #expect(
            metrics.stdout.contains(#"mesher_answers_total{reason="fault-abort"} \#(aborted)"#),
            "\(metrics.stdout.split(separator: "\n").filter { $0.contains("fault") })")
    }

    /// `ratedclient.py` in the client at `rate` requests a second to port 8080 of the server, for `seconds`: its
    /// lines (time, status, Retry-After, x-mesher-error), and its standard error.
    static func ratedClient(_ lab: Lab, authority: String, path: String, rate: Int, seconds: Int) throws -> (
        lines: [[String]], stderr: String
    ) {
        let client = Lab.fixtures.appendingPathComponent("ratedclient.py").path
        let result = try lab.inClient(
            ["/usr/bin/python3", client, lab.serverIPv4, "8080", authority, path, "\(rate)", "\(seconds)"],
            timeout: 60)
        return (result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }, result.stderr)
    }

    /// A client sending 1,000 requests a second gets 100 a second through (after the burst of 10), the rest
    /// 429 with Retry-After and `rate-limited`.
    @Test func rateLimitHoldsAgainstAFasterClient() throws {
        let lab = try Self.lab()
        defer { lab.destroy() }
        let (lines, stderr) = try Self.ratedClient(
            lab, authority: "AccountService:8080", path: "/limited/x", rate: 1000, seconds: 4)
        #expect(lines.count >= 2_000, "the client sent at least 500 a second: \(lines.count) \(stderr)")
        let passed = lines.filter { $0[1] == "200" }
        let limited = lines.filter { $0[1] == "429" }
        #expect(passed.count + limited.count == lines.count)
        #expect(limited.allSatisfy { $0[2] == "1" && $0[3] == "rate-limited" })
        // From the first to the fourth second: 100 a second, ±10 %.
        let window = passed.filter { (1.0..<4.0).contains(Double($0[0]) ?? 0) }.count
        #expect((270...330).contains(window), "\(window) in 3 s")
        let metrics = try lab.inClient(["curl", "-sS", "http://127.0.0.1:15000/metrics"])
        #expect(metrics.stdout.contains(#"mesher_answers_total{reason="rate-limited"} \#(limited.count)"#))
    }
}
