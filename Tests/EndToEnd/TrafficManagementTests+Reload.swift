import Foundation
import Testing

extension TrafficManagementTests {
    static func config(_ lab: Lab, threads: Int = 2, routes: String) -> String {
        "registry: {directory: \(lab.registryDirectory)}\nthreads: \(threads)\nroutes:\n  AccountService:\n" + routes
    }

    static let toV1 = "    - to: [{version: 1.0.0}]\n"
    static let toV2 = "    - to: [{version: 2.0.0}]\n"

    /// The instances that answered `count` requests.
    static func answeredBy(_ lab: Lab, count: Int = 10) throws -> Set<String> {
        Set(try (0..<count).map { _ in try echo(lab, "/who")["name"] as? String ?? "?" })
    }

    /// Reloads under load: 20 changes of the routes (half found by the file check, half by SIGHUP) while wrk
    /// sends requests on 8 connections: not one fails. Then a file that does not load keeps the running
    /// routes with a line naming file, line and field, and a change that needs a restart says so.
    @Test func reloadsLoseNoRequest() throws {
        let (lab, process) = try Self.labAndMesher(config: "routes:\n  AccountService:\n" + Self.toV1)
        defer { lab.destroy() }
        let mesher = process.processIdentifier
        #expect(try Self.answeredBy(lab).isSubset(of: ["v1a", "v1b"]))
        let wrk = try lab.spawn(
            in: lab.client, uid: Lab.appUID,
            ["wrk", "-t2", "-c8", "-d16s", "-H", "Host: AccountService:8080", "http://\(lab.serverIPv4):8080/load"],
            log: "wrk")
        usleep(500_000)
        for change in 0..<20 {
            _ = try lab.writeConfig(Self.config(lab, routes: change % 2 == 0 ? Self.toV2 : Self.toV1))
            if change % 2 == 0 {
                kill(mesher, SIGHUP)
                usleep(300_000)
            } else {
                usleep(1_300_000)  // the file check runs every second
            }
        }
        #expect(lab.stop(wrk, signal: 0, timeout: 30) == 0)
        let output = lab.log("wrk")
        #expect(!output.contains("Non-2xx") && !output.contains("Socket errors"), "\(output)")
        let requests = output.split(separator: "\n").first { $0.contains("requests in") }
        #expect((requests.flatMap { Int($0.split(separator: " ").first ?? "") } ?? 0) > 1_000, "\(output)")
        let reloads = lab.log("mesher").split(separator: "\n").filter {
            $0.contains("config reloaded") && !$0.contains("nothing to change")
        }
        #expect(reloads.count >= 20, "\(reloads.count) reloads")
        #expect(reloads.contains { $0.contains("SIGHUP") } && reloads.contains { $0.contains("file changed") })
        #expect(try Self.answeredBy(lab).isSubset(of: ["v1a", "v1b"]), "the last change (to 1.0.0) is in effect")

        // A mistake: the running routes stay, and the line says where.
        _ = try lab.writeConfig(Self.config(lab, routes: "    - to: [{versoin: 2.0.0}]\n"))
        kill(mesher, SIGHUP)
        #expect(lab.eventually { lab.log("mesher").contains("config not reloaded") })
        #expect(lab.log("mesher").contains("mesher.yaml:5: routes.AccountService.[0].to.[0].versoin: unknown field"))
        #expect(try Self.answeredBy(lab).isSubset(of: ["v1a", "v1b"]))

        let failures = lab.log("mesher").split(separator: "\n").filter { $0.contains("config not reloaded") }
        #expect(failures.count == 1, "one line for one bad file, signalled and changed: \(failures)")
        let metrics = try lab.inClient(["curl", "-sS", "http://127.0.0.1:15000/metrics"]).stdout
        func reloadCount(_ result: String) -> Double {
            metrics.split(separator: "\n").first { $0.hasPrefix(#"mesher_config_reloads_total{result="\#(result)"}"#) }
                .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? -1
        }
        #expect(reloadCount("invalid") == 1 && reloadCount("applied") >= 20, "\(metrics.suffix(2000))")

        // A new thread count needs a restart; the routes in the same file apply at once.
        _ = try lab.writeConfig(Self.config(lab, threads: 1, routes: Self.toV2))
        kill(mesher, SIGHUP)
        #expect(lab.eventually { lab.log("mesher").contains("config changes that need a restart were not applied") })
        #expect(lab.log("mesher").contains("fields=threads"), "\(lab.log("mesher").suffix(1500))")
        #expect(try Self.answeredBy(lab) == ["v2"])
        let dump = try lab.inClient(["curl", "-sS", "http://127.0.0.1:15000/config_dump"]).stdout
        #expect(dump.contains(#""threads" : 2"#) && dump.contains(#""version" : "2.0.0""#), "\(dump.prefix(3000))")
    }

    /// `inbound.rateLimit` on the provider side: its app gets 50 requests a second, however many come.
    @Test func inboundRateLimitProtectsTheApp() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let path = try lab.writeConfig(
            "inbound: {rateLimit: {requestsPerSecond: 50, burst: 5}}\n", name: "provider.yaml")
        try lab.startProviderMesher(["--config", path])
        let (lines, stderr) = try Self.ratedClient(
            lab, authority: "\(lab.serverIPv4):8080", path: "/hello.txt", rate: 500, seconds: 3)
        #expect(lines.count >= 750, "\(lines.count) \(stderr)")
        let passed = lines.filter { $0[1] == "200" }
        #expect(lines.filter { $0[1] == "429" }.allSatisfy { $0[3] == "rate-limited" })
        let window = passed.filter { (1.0..<3.0).contains(Double($0[0]) ?? 0) }.count
        #expect((90...110).contains(window), "\(window) in 2 s")
        #expect(
            lab.accessLogHas(lab.providerAccessLogPath) {
                $0.contains(#""dir":"inbound""#) && $0.contains(#""error":"rate-limited""#)
            })
        // Other protocols take their tokens from the same bucket: 40 banner connections at once, most reset.
        let banners = try lab.inClient(
            [
                "/usr/bin/python3", "-c",
                """
                import socket, sys, threading
                got = []
                def one():
                    try:
                        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
                        got.append(s.recv(64).startswith(b"220"))
                    except OSError:
                        got.append(False)
                threads = [threading.Thread(target=one) for _ in range(40)]
                [t.start() for t in threads]
                [t.join() for t in threads]
                print(sum(got), len(got) - sum(got))
                """, lab.serverIPv4, "\(Lab.peerBase)",
            ], timeout: 60)
        let counts = banners.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        #expect(
            counts.count == 2 && counts[0] >= 1 && counts[1] >= 20,
            "served, refused: \(banners.stdout) \(banners.stderr)")
        #expect(
            lab.accessLogHas(lab.providerAccessLogPath) {
                $0.contains(#""dir":"inbound""#) && $0.contains(#""result":"rate-limited""#)
            })
    }
}
