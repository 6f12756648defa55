import Foundation
import Testing

/// More instances that misbehave on purpose: one resets connections (before answering, or midway through
/// its response), one is slow (200 ms), a TCP service with an instance that refuses connections.
extension ReliableDeliveryTests {
    /// Logs each request line, then resets the connection (SO_LINGER 0): before any response byte, or `mid`
    /// after a head and part of the body.
    static let resetting = """
        import socket, struct, sys, threading
        port, mode = int(sys.argv[1]), sys.argv[2]
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", port))
        server.listen(64)
        def handle(conn):
            data = conn.recv(4096)
            print(data.split(b"\\r\\n")[0].decode(), flush=True)
            if mode == "mid":
                conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 100\\r\\n\\r\\npartial")
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        while True:
            conn, _ = server.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
        """

    /// `count` requests `method PATH` with a body of `size` bytes to `service`, on one keep-alive connection
    /// (or a new one each, `fresh`): "status body" each.
    static let bodyClient = """
        import http.client, sys
        host, service, method, size, count, fresh = sys.argv[1:7]
        conn = None
        for _ in range(int(count)):
            if conn is None or fresh == "fresh":
                conn = http.client.HTTPConnection(host, 8080, timeout=20)
            try:
                conn.request(method, "/upload", body=b"x" * int(size), headers={"Host": service + ":8080"})
                response = conn.getresponse()
                print(response.status, response.read().decode().strip(), flush=True)
                if response.getheader("Connection", "").lower() == "close":
                    conn = None
            except (http.client.HTTPException, OSError) as error:
                print("error", type(error).__name__, flush=True)
                conn = None
        """

    func resetLab() throws -> Lab {
        try lab(
            traffic: """
                traffic:
                  defaults: {loadBalancer: round-robin, retries: {on: [connect-failure, reset]}, outlierDetection: {consecutiveFailures: 0}}

                """
        ) { lab in
            try lab.startApp(name: "alpha", port: 7100)
            for (port, mode) in [(7104, "before"), (7105, "mid")] {
                let server = try lab.spawn(
                    in: lab.server, ["/usr/bin/python3", "-c", Self.resetting, "\(port)", mode], log: "reset-\(mode)")
                try lab.waitForListener(in: lab.server, port: port, process: server)
            }
            return """
                services:
                  ResetService:
                    - {address: \(lab.serverIPv4), port: 7104}
                    - {address: \(lab.serverIPv4), port: 7100}
                  CutService:
                    - {address: \(lab.serverIPv4), port: 7105}
                """
        }
    }

    func send(_ lab: Lab, _ service: String, _ method: String, size: Int, count: Int, fresh: Bool = false) throws
        -> [String]
    {
        let result = try lab.inClient([
            "/usr/bin/python3", "-c", Self.bodyClient, lab.serverIPv4, service, method, "\(size)", "\(count)",
            fresh ? "fresh" : "keep",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    /// With `on: [reset]`, a PUT the resetting instance cut off before answering goes to the healthy one,
    /// body and all (kept because it is within `retries.bodyLimit`: the app sees all 1,000 bytes); a PUT larger
    /// than the limit is streamed, not kept, so it is not retried (502); a POST is never sent twice. One cut off
    /// while its body still streams is sent again with what arrived so far, and the rest follows.
    @Test func aResetBeforeTheAnswerIsRetriedWithItsBody() throws {
        let lab = try resetLab()
        defer { lab.destroy() }
        // SHA-256 of 1,000 "x", as the app reports a body.
        let digest = "44f8354494a5ba03ba1792a8d3e9c534c47a9181980fde7a3f44b06ef2ae7c7f 1000"
        let small = try send(lab, "ResetService", "PUT", size: 1000, count: 20)
        #expect(small == Array(repeating: "200 \(digest)", count: 20), "\(small)")
        let cut = lab.log("reset-before").components(separatedBy: "PUT /upload").count - 1
        #expect(cut >= 5, "round robin gave the resetting instance its share: \(cut)")
        #expect(lab.accessLogHas { $0.contains(#""method":"PUT""#) && $0.contains(#""attempts":2"#) })

        // Cut off while its body still streams: what arrived so far goes again, and the rest follows.
        let streaming = try send(lab, "ResetService", "PUT", size: 50_000, count: 6, fresh: true)
        let streamed = "9483d1c3ad73c1fcfe3260e5fdecbd9a70966a2cf2cd8b95c59d691e46790149 50000"
        #expect(streaming == Array(repeating: "200 \(streamed)", count: 6), "\(streaming)")

        let large = try send(lab, "ResetService", "PUT", size: 100_000, count: 6, fresh: true)
        #expect(large.filter { $0.hasPrefix("502") }.count >= 1, "\(large)")
        #expect(large.filter { $0.hasPrefix("200") }.count >= 1, "\(large)")

        let posts = try send(lab, "ResetService", "POST", size: 10, count: 6, fresh: true)
        let failed = posts.filter { $0.hasPrefix("502") }.count
        #expect(failed >= 1, "\(posts)")
        #expect(lab.log("reset-before").components(separatedBy: "POST /upload").count - 1 == failed, "\(posts)")
    }

    /// A reset after part of the response went to the client cannot be retried: the client sees the response
    /// cut off (never a second response spliced in), and the access log says so after one attempt (the field is
    /// left out for one).
    @Test func aResetMidResponseIsPassedOn() throws {
        let lab = try resetLab()
        defer { lab.destroy() }
        let result = try lab.inClient([
            "curl", "-sS", "-m", "10", "--connect-to", "::\(lab.serverIPv4):8080", "http://CutService:8080/",
        ])
        #expect(result.status != 0, "a cut response is an error for the client: \(result.stdout)")
        #expect(lab.log("reset-mid").components(separatedBy: "GET /").count - 1 == 1, "sent once")
        #expect(
            lab.accessLogHas {
                $0.contains(#""service":"cutservice""#) && $0.contains(#""error":"upstream-reset""#)
                    && !$0.contains("attempts")
            }, "\(lab.accessLog())")
    }

    /// `ewma` learns that one of three instances takes 200 ms and sends it few requests; round robin sends it
    /// its third.
    @Test(arguments: [("ewma", 0...6), ("round-robin", 18...22)])
    func ewmaGivesASlowInstanceASmallShare(_ balancer: String, _ share: ClosedRange<Int>) throws {
        let lab = try lab(traffic: "traffic: {defaults: {loadBalancer: \(balancer)}}\n") { lab in
            try lab.startApp(name: "alpha", port: 7100)
            try lab.startApp(name: "beta", port: 7101)
            let slow = try lab.spawn(
                in: lab.server, ["/usr/bin/python3", "-c", Self.slow, "7200", "0.2"], log: "slow")
            try lab.waitForListener(in: lab.server, port: 7200, process: slow)
            return """
                services:
                  FlakyService:
                    - {address: \(lab.serverIPv4), port: 7100}
                    - {address: \(lab.serverIPv4), port: 7101}
                    - {address: \(lab.serverIPv4), port: 7200}
                """
        }
        defer { lab.destroy() }
        let statuses = try statuses(lab, count: 60)
        #expect(statuses == Array(repeating: "200", count: 60), "\(statuses)")
        let slow = requestsSeen(lab, "slow")
        #expect(share.contains(slow), "\(balancer): the slow instance got \(slow) of 60")
    }

    /// On the defaults (P2C over peak-EWMA), 60 requests in a row over three healthy instances give each at least
    /// 10: an instance not yet tried is assumed no slower than the one it is weighed against.
    @Test func theDefaultBalancerGivesEveryInstanceItsTurn() throws {
        let lab = try lab(traffic: "") { lab in
            for (index, name) in ["alpha", "beta", "gamma"].enumerated() {
                try lab.startApp(name: name, port: 7100 + index)
            }
            return "services:\n  FairService:\n"
                + (7100...7102).map { "    - {address: \(lab.serverIPv4), port: \($0)}\n" }.joined()
        }
        defer { lab.destroy() }
        #expect(try statuses(lab, count: 60, service: "FairService") == Array(repeating: "200", count: 60))
        let upstreams = lab.accessLog().filter { $0.contains(#""service":"fairservice""#) }.compactMap { line in
            (7100...7102).first { line.contains(#":\#($0)""#) }
        }
        let counts = Dictionary(upstreams.map { ($0, 1) }, uniquingKeysWith: +)
        #expect(upstreams.count == 60 && counts.count == 3 && counts.values.allSatisfy { $0 >= 10 }, "\(counts)")
    }

    /// `maxConnections: 1` with `maxPendingRequests: 2` (one event loop): of four requests to a slow instance,
    /// the first opens the connection (0.3 s before the others, so that its connect is done and no longer
    /// pending), two wait for it and get it in turn, the fourth is answered 503 `overflow` at once.
    @Test func busyConnectionsQueueThenOverflow() throws {
        let lab = try slowLab(
            traffic: "traffic: {defaults: {circuitBreaker: {maxConnections: 1, maxPendingRequests: 2}}}\n")
        defer { lab.destroy() }
        let results = try callConcurrently(lab, 4, firstAhead: true)
        #expect(results.count == 4, "\(results)")
        let shed = results.filter { $0.status == 503 && $0.error == "overflow" }
        #expect(shed.count == 1 && shed.allSatisfy { $0.seconds < 1 }, "\(results)")
        let served = results.filter { $0.status == 200 }.map(\.seconds).sorted()
        #expect(served.count == 3, "\(results)")
        if served.count == 3 {
            #expect(served[0] >= 1.4 && served[1] >= 2.5 && served[2] >= 4.0, "one connection, in turn: \(served)")
        }
    }

    /// TCP to a service's virtual IP (a line protocol, not HTTP): a refused connect goes to the other instance,
    /// so every connection gets through, and the refusing instance is ejected after 5 failed connects.
    @Test func tcpToAVirtualIPRetriesRefusedConnects() throws {
        let lab = try lab(traffic: "traffic: {defaults: {loadBalancer: round-robin}}\n", captureDNS: true) { lab in
            let peer = Lab.fixtures.appendingPathComponent("peer.py").path
            let server = try lab.spawn(
                in: lab.server, ["/usr/bin/python3", peer, "serve", "0.0.0.0", "7300"], log: "tcp")
            try lab.waitForListener(in: lab.server, port: 7303, process: server)
            return """
                services:
                  LineService:
                    - {address: \(lab.serverIPv4), port: 7399}
                    - {address: \(lab.serverIPv4), port: 7303}
                """
        }
        defer { lab.destroy() }
        let client = """
            import socket
            for _ in range(20):
                with socket.create_connection(("LineService", 7303), timeout=10) as s:
                    s.sendall(b"ping\\n")
                    print(s.makefile("rb").readline().decode().strip() or "closed", flush=True)
            """
        let result = try lab.inClient(["/usr/bin/python3", "-c", client])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == String(repeating: "ok\n", count: 20), "\(result.stdout)")
        let mesherLog = lab.log("mesher")
        #expect(mesherLog.contains("instance ejected after consecutive failures"), "\(mesherLog.suffix(2000))")
        #expect(mesherLog.contains(":7399"), "the refusing instance is named")
    }
}
