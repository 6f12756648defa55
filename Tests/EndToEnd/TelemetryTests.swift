import Foundation
import Testing

/// Visibility: `/metrics` read by a real Prometheus (Debian's) scraping Mesher in the app's namespace, exact
/// counts, `promtool check metrics`, and trace context continued hop by hop.
@Suite(.serialized)
struct TelemetryTests {
    /// AccountService (alpha and beta) and EmptyService (no instance: Mesher answers 503 itself).
    func lab() throws -> Lab {
        let lab = try Lab()
        do {
            try lab.startApp(name: "alpha", port: 7100)
            try lab.startApp(name: "beta", port: 7101)
            try lab.register(
                "services.yaml",
                """
                services:
                  AccountService:
                    - {address: \(lab.serverIPv4), port: 7100}
                    - {address: \(lab.serverIPv4), port: 7101}
                  EmptyService: []
                """)
            let config = try lab.writeConfig("registry: {directory: \(lab.registryDirectory)}\nthreads: 2\n")
            try lab.mesherCommand(["init"]).check("mesher init")
            try lab.startMesher(["--config", config])
        } catch {
            lab.destroy()
            throw error
        }
        return lab
    }

    /// `count` GETs to `service` on one keep-alive connection.
    func load(_ lab: Lab, _ service: String, _ count: Int) throws {
        let urls = Array(repeating: "http://\(service):8080/who", count: count)
        let result = try lab.inClient(
            ["curl", "-sS", "-m", "60", "--connect-to", "::\(lab.serverIPv4):8080"]
                + urls.flatMap { ["-o", "/dev/null", $0] })
        #expect(result.status == 0, "\(result.stderr)")
    }

    /// 150 requests answered 200 by AccountService and 20 answered 503 by Mesher for EmptyService give those
    /// counts exactly, whichever of the two event loops took them; the exposition passes promtool.
    @Test func countsAreExactAndPromtoolAcceptsThem() throws {
        let lab = try lab()
        defer { lab.destroy() }
        try load(lab, "AccountService", 150)
        try load(lab, "EmptyService", 20)
        let text = try lab.metrics()
        let ok = #"mesher_requests_total{direction="outbound",service="accountservice",code="200",class="2xx"}"#
        #expect(Lab.sample(text, ok) == 150, "\(text.prefix(3000))")
        let unavailable = #"mesher_requests_total{direction="outbound",service="emptyservice",code="503",class="5xx"}"#
        #expect(Lab.sample(text, unavailable) == 20)
        #expect(Lab.sample(text, #"mesher_answers_total{reason="no-healthy-instance"}"#) == 20)
        #expect(Lab.sample(text, #"mesher_registry_services"#) == 2)
        #expect(Lab.sample(text, #"mesher_registry_instances{state="up"}"#) == 2)
        #expect(Lab.sample(text, "mesher_registry_synced") == 1)
        #expect(Lab.sample(text, "mesher_registry_syncs_total") == 1, "one full view, read at start")
        #expect((Lab.sample(text, "process_resident_memory_bytes") ?? 0) > 1_000_000)
        let histogramCount = text.split(separator: "\n").filter {
            $0.hasPrefix(#"mesher_request_duration_seconds_count{direction="outbound",service="accountservice""#)
        }.compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
        #expect(histogramCount == 150, "the loops' histograms together")

        let file = lab.dir.appendingPathComponent("metrics.txt").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let check = try sh(["sh", "-c", "promtool check metrics < \(file)"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }

    /// A real Prometheus scraping Mesher every second: after loads of known size its HTTP API gives the
    /// request count, a rate, and a p99 within the histogram's range.
    @Test func prometheusScrapesRateAndLatency() throws {
        let lab = try lab()
        defer { lab.destroy() }
        let config = lab.dir.appendingPathComponent("prometheus.yml").path
        try """
        global: {scrape_interval: 1s}
        scrape_configs:
          - job_name: mesher
            static_configs: [{targets: ["127.0.0.1:15000"]}]
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let prometheus = try lab.spawn(
            in: lab.client,
            [
                "prometheus", "--config.file=\(config)", "--web.listen-address=127.0.0.1:19090",
                "--storage.tsdb.path=\(lab.dir.appendingPathComponent("tsdb").path)",
            ], log: "prometheus")
        try lab.waitForListener(in: lab.client, port: 19090, process: prometheus, timeout: 30)
        func query(_ promql: String) throws -> Double? {
            let result = try lab.inClient(
                [
                    "curl", "-sS", "-m", "10", "--get", "http://127.0.0.1:19090/api/v1/query", "--data-urlencode",
                    "query=\(promql)",
                ], uid: nil)
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            let data = json?["data"] as? [String: Any]
            let first = (data?["result"] as? [[String: Any]])?.first
            return ((first?["value"] as? [Any])?.last as? String).flatMap(Double.init)
        }
        // Two rounds, each on four connections (both event loops), scraped in between: a rate needs a series
        // to be seen before it grows.
        let total = #"sum(mesher_requests_total{service="accountservice",code="200"})"#
        for round in 1...2 {
            for _ in 0..<4 { try load(lab, "AccountService", 25) }
            let scraped = try lab.eventually(timeout: 30) { try query(total) == Double(round * 100) }
            #expect(
                scraped,
                "Prometheus saw \(String(describing: try? query(total))): \(lab.log("prometheus").suffix(1500))")
        }
        let rate = try query(#"sum(rate(mesher_requests_total{service="accountservice"}[1m]))"#) ?? 0
        #expect(rate > 0, "a rate over the last minute")
        let p99 = try query(
            #"histogram_quantile(0.99, sum by (le) (rate(mesher_request_duration_seconds_bucket{service="accountservice"}[1m])))"#
        )
        #expect(p99.map { $0 > 0 && $0 <= 10 } == true, "p99 \(String(describing: p99)) s")

        // Every query of the Grafana dashboard in deploy/ is valid PromQL over series Mesher exports.
        let dashboard = Lab.fixtures.appendingPathComponent("../../../deploy/grafana-dashboard.json").standardized
        let panels = try JSONSerialization.jsonObject(with: Data(contentsOf: dashboard)) as? [String: Any]
        let queries = (panels?["panels"] as? [[String: Any]] ?? []).flatMap {
            ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
        }
        #expect(queries.count >= 20)
        for promql in queries {
            let result = try lab.inClient(
                [
                    "curl", "-sS", "-m", "10", "--get", "http://127.0.0.1:19090/api/v1/query", "--data-urlencode",
                    "query=\(promql)",
                ], uid: nil)
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            let series = (json?["data"] as? [String: Any])?["result"] as? [Any]
            #expect(json?["status"] as? String == "success" && series?.isEmpty == false, "\(promql): \(result.stdout)")
        }
    }

    /// A request that comes with a W3C trace continues it: the app receives the same trace id with Mesher's span
    /// as parent, Mesher logs both, and a request without one starts a trace.
    @Test func traceContextIsContinuedHopByHop() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let upstream = try RecordingUpstream(lab)
        try lab.mesherCommand(["init"]).check("mesher init")
        try lab.startMesher()
        let replies = try upstream.send(
            "GET /traced HTTP/1.1\\r\\nHost: up\\r\\nConnection: close\\r\\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\\r\\n\\r\\n",
            "GET /fresh HTTP/1.1\\r\\nHost: up\\r\\nConnection: close\\r\\n\\r\\n",
            "GET /future HTTP/1.1\\r\\nHost: up\\r\\nConnection: close\\r\\ntraceparent: 01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra\\r\\n\\r\\n"
        )
        #expect(replies.count == 3 && replies.allSatisfy { $0.hasPrefix("HTTP/1.1 200") }, "\(replies)")
        let records = upstream.requests()
        let parents = records.first { $0.target == "/traced" }?.header("traceparent") ?? []
        #expect(parents.count == 1, "\(records)")
        let parts = parents.first?.split(separator: "-") ?? []
        #expect(parts.count == 4 && parts[1] == "4bf92f3577b34da6a3ce929d0e0e4736" && parts[2] != "00f067aa0ba902b7")
        let span = parts.count == 4 ? String(parts[2]) : "-"
        #expect(
            lab.accessLogHas {
                $0.contains(#""path":"/traced""#) && $0.contains(#""trace":"4bf92f3577b34da6a3ce929d0e0e4736""#)
                    && $0.contains(#""span":"\#(span)""#) && $0.contains(#""parent":"00f067aa0ba902b7""#)
            })
        let started = records.first { $0.target == "/fresh" }?.header("traceparent").first ?? ""
        #expect(started.hasPrefix("00-") && started.hasSuffix("-01") && started.count == 55, "\(started)")
        // A later version's traceparent is continued by its first four fields (W3C Trace Context 3.2.4).
        let future = records.first { $0.target == "/future" }?.header("traceparent").first ?? ""
        #expect(future.hasPrefix("00-4bf92f3577b34da6a3ce929d0e0e4736-") && future.hasSuffix("-01"), "\(future)")
        #expect(lab.accessLogHas { $0.contains(#""path":"/future""#) && $0.contains(#""parent":"00f067aa0ba902b7""#) })
    }
}
