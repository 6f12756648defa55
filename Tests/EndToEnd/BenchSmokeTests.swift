import Foundation
import Testing

/// `make bench` runs from a clean clone: one short pass with the debug build, checking that every row of
/// the table is there and holds numbers. Speed is never asserted here.
struct BenchSmokeTests {
    @Test func benchmarkCompletesAndItsTableParses() throws {
        let script = InitContainerTests.repository.appendingPathComponent("bench/sidecar-bench.sh").path
        let result = try sh(
            [
                "env", "MESHER_BIN=\(Lab.mesherBinary)", "BENCH_ROUNDS=1", "BENCH_PAIRS=1", "BENCH_IDLE_CONNS=200",
                "bash", script, "1",
            ],
            timeout: 300)
        #expect(result.status == 0, "\(result.stderr)")
        let rows = Dictionary(
            result.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.hasPrefix(" ") }
                .map { line in (String(line.split(separator: " ")[0]), line.split(separator: " ").map(String.init)) },
            uniquingKeysWith: { first, _ in first })
        for scenario in ["ka-c32", "ka-c1", "close-c8"] {
            let row = try #require(rows[scenario], "\(result.stdout)")
            #expect(row.count == 9, "5 proxies and 3 ratios: \(row)")
            #expect(row[1...5].allSatisfy { Double($0) ?? 0 > 0 }, "requests per second: \(row)")
        }
        for scenario in [
            "rss-idle", "rss-load", "anon-idle", "anon-load", "cpu-100k", "route-c32", "route-c32-off", "idle-200",
            "ka-c32-notel", "route-c32-notel",
        ] {
            let row = try #require(rows[scenario], "\(result.stdout)")
            let mesher = row.filter { Double($0) != nil }
            #expect(!mesher.isEmpty, "\(scenario): \(row)")
        }
        // HTTP/2 and gRPC (grpcio): direct, HAProxy, Mesher's relay and Mesher at L7 all carried requests.
        for scenario in ["h2-c8m32", "grpc-c8m32"] {
            let row = try #require(rows[scenario], "\(result.stdout)")
            #expect(row.filter { Double($0) ?? 0 > 0 }.count >= 4, "\(scenario): \(row)")
        }
        // One bad instance of three: a 2xx share for HAProxy (health checks, retry-on) and Mesher.
        let bad = try #require(rows["bad-1-of-3"], "\(result.stdout)")
        #expect(bad.filter { $0.hasSuffix("%") && Double($0.dropLast()) != nil }.count == 2, "\(bad)")
        #expect(result.stdout.contains("policy layer (defaults) on routed requests: route-c32 / route-c32-off = "))
        #expect(result.stdout.contains("metrics + trace context: ka-c32 / ka-c32-notel = "))
        #expect(result.stdout.contains("metrics + trace context: route-c32 / route-c32-notel = "))
    }
}
