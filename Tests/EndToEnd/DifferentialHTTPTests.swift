import Foundation
import Testing

/// Every request and response case of `Fixtures/differential` through a real Mesher, against an upstream
/// that parses with h11 (an independent strict parser): what Mesher forwards is read the same way, or
/// Mesher refused it; and no case lets a request or response leak into another client's exchange.
@Suite(.serialized) struct DifferentialHTTPTests {
    static let fixtures = Lab.fixtures.appendingPathComponent("differential")

    /// The h11 upstream on port 8081 of the server, recording what it parses; the script and the record's path.
    static func startUpstream(_ lab: Lab) throws -> (script: String, record: String) {
        let record = lab.dir.appendingPathComponent("upstream-record.jsonl").path
        let script = fixtures.appendingPathComponent("differential.py").path
        let upstream = try lab.spawn(
            in: lab.server,
            [
                "/usr/bin/python3", script, "upstream", "8081", record,
                fixtures.appendingPathComponent("responses.json").path,
            ], log: "differential-upstream")
        try lab.waitForListener(in: lab.server, port: 8081, process: upstream)
        return (script, record)
    }

    @Test func mesherAndAStrictParserAgreeOnEveryCase() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let (script, record) = try Self.startUpstream(lab)
        // One event loop: the victim request after each case gets the pooled connection the case used.
        let config = try lab.writeConfig("threads: 1\n")
        try lab.mesherCommand(["init"]).check("mesher init")
        try lab.startMesher(["--config", config])
        let result = try lab.inClient(
            [
                "/usr/bin/python3", script, "drive", lab.serverIPv4, "8081",
                Self.fixtures.appendingPathComponent("requests.json").path,
                Self.fixtures.appendingPathComponent("responses.json").path, record, lab.accessLogPath,
            ], timeout: 600)
        print(result.stdout)
        #expect(
            result.status == 0,
            "\(result.stdout.split(separator: "\n").filter { $0.hasPrefix("FAIL") }.joined(separator: "\n"))\n\(result.stderr)"
        )
        #expect(result.stdout.contains(" 0 failures"))
    }

    /// Route rules on a service: deny rules hold for every spelling an app would read as the same path, a
    /// rewrite and header edits reach the upstream (h11) as Mesher matched them, and framing stays Mesher's.
    @Test func routeRulesSeeWhatTheUpstreamReads() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let (script, record) = try Self.startUpstream(lab)
        try lab.register("up.yaml", "services:\n  up:\n    - {address: \(lab.serverIPv4), port: 8081}\n")
        let config = try lab.writeConfig(
            """
            threads: 1
            registry: {directory: \(lab.registryDirectory)}
            routes:
              up:
                - match: {path: {regex: "^/admin"}}
                  directResponse: {status: 403, body: denied}
                - match: {path: {prefix: /v2/}}
                  rewrite: {prefix: /}
                  requestHeaders: {set: {x-route: v2}, remove: [x-debug]}
                - match: {headers: {x-canary: {exact: "1"}}}
                  requestHeaders: {add: {x-canary-seen: "yes"}}
                - match: {path: {exact: /abort}}
                  fault: {abort: {status: 418, percent: 100}}
                - match: {path: {prefix: /api}}
                  requestHeaders: {set: {x-api: "1"}}

            """)
        try lab.mesherCommand(["init"]).check("mesher init")
        try lab.startMesher(["--config", config])
        let result = try lab.inClient(
            [
                "/usr/bin/python3", script, "routed", lab.serverIPv4, "8081",
                Self.fixtures.appendingPathComponent("routed.json").path, record,
            ], timeout: 300)
        print(result.stdout)
        #expect(
            result.status == 0,
            "\(result.stdout.split(separator: "\n").filter { $0.hasPrefix("FAIL") }.joined(separator: "\n"))\n\(result.stderr)"
        )
    }

    /// HTTP/2 requests (python3-h2, its outbound checks off) to an instance that speaks HTTP/1 only: h11 reads
    /// each as the client sent it on its stream (method, target, body, fields), or Mesher refused it and h11 read
    /// nothing: no field or body an HTTP/1 hop could frame otherwise crosses from HTTP/2 (`h2.json`), and a rule on
    /// /admin holds for the spellings an app reads as /admin.
    @Test func http2RequestsReachAnHTTP1InstanceAsSent() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let (_, record) = try Self.startUpstream(lab)
        try lab.register(
            "up.yaml", "services:\n  up:\n    - {address: \(lab.serverIPv4), port: 8081, protocol: http1}\n")
        let config = try lab.writeConfig(
            """
            threads: 1
            registry: {directory: \(lab.registryDirectory)}
            routes:
              up:
                - match: {path: {prefix: /admin}}
                  directResponse: {status: 403, body: denied}

            """)
        try lab.mesherCommand(["init"]).check("mesher init")
        try lab.startMesher(["--config", config])
        let result = try lab.inClient(
            [
                "/usr/bin/python3", Self.fixtures.appendingPathComponent("h2diff.py").path, lab.serverIPv4, "8081",
                Self.fixtures.appendingPathComponent("h2.json").path, record,
            ], timeout: 300)
        print(result.stdout)
        #expect(
            result.status == 0 && result.stdout.contains(" 0 failures"),
            "\(result.stdout.split(separator: "\n").filter { $0.hasPrefix("FAIL") }.joined(separator: "\n"))\n\(result.stderr)"
        )
        // Each stream Mesher answered 400 (most of them refused as their headers were read, before any call was
        // made of them) is in the access log and counted, as HTTP/1's refusals are.
        let refused = result.stdout.split(separator: "\n").filter { $0.hasPrefix("h2 ") && $0.hasSuffix(" 400") }.count
        #expect(refused >= 3, "\(result.stdout)")
        let logged = { (try? String(contentsOfFile: lab.accessLogPath, encoding: .utf8)) ?? "" }
        #expect(
            lab.eventually {
                logged().split(separator: "\n").filter {
                    $0.contains(#""proto":"h2""#) && $0.contains(#""status":400"#) && $0.contains(#""error":"#)
                }.count == refused
            }, "\(logged())")
        let metrics = try lab.metrics()
        let series = #"mesher_requests_total{direction="outbound",service="passthrough",code="400",class="4xx"}"#
        let counted = Lab.sample(metrics, series).map { Int($0) }
        #expect(counted == refused, "\(metrics.split(separator: "\n").filter { $0.contains("code=\"400\"") })")
    }

    /// HTTP/1.1 clients (h11) to an instance that speaks only h2c (`h2upstream.py`, python3-h2 with its checks
    /// off): each response reaches the client as the instance meant it, fields, body and trailers, or Mesher
    /// refused it (a 502, or cut off): no field or framing an HTTP/1 client could read otherwise crosses from
    /// HTTP/2 (`h2responses.json`).
    @Test func responsesOfAnH2cInstanceReachHTTP1ClientsAsSent() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let script = Self.fixtures.appendingPathComponent("h2upstream.py").path
        let cases = Self.fixtures.appendingPathComponent("h2responses.json").path
        let upstream = try lab.spawn(
            in: lab.server, ["/usr/bin/python3", script, "serve", "8082", cases], log: "h2-upstream")
        try lab.waitForListener(in: lab.server, port: 8082, process: upstream)
        try lab.register(
            "h2up.yaml", "services:\n  h2up:\n    - {address: \(lab.serverIPv4), port: 8082, protocol: h2c}\n")
        let config = try lab.writeConfig("threads: 1\nregistry: {directory: \(lab.registryDirectory)}\n")
        try lab.mesherCommand(["init"]).check("mesher init")
        try lab.startMesher(["--config", config])
        let result = try lab.inClient(
            ["/usr/bin/python3", script, "drive", lab.serverIPv4, "8082", cases], timeout: 300)
        print(result.stdout)
        #expect(
            result.status == 0 && result.stdout.contains(" 0 failures"),
            "\(result.stdout.split(separator: "\n").filter { $0.hasPrefix("FAIL") }.joined(separator: "\n"))\n\(result.stderr)"
        )
    }
}
