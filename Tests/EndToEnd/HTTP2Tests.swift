import Foundation
import Testing

/// HTTP/2 by prior knowledge (h2c) and gRPC through Mesher, stream by stream. In the server namespace GrpcService
/// has three gRPC instances (`grpcpeer.py` g1, g2, g3 on 7300-7302) and H2Web one nghttpd (7310), all
/// `protocol: h2c`; EmptyGrpc and EmptyWeb are known with no instance. The app (uid 1000) dials
/// `<server>:7300` (gRPC) or `<server>:8080` (curl, h2load); the capture brings each connection to Mesher, which
/// routes every stream by its `:authority`.
@Suite(.serialized)
struct HTTP2Tests {
    static let python = "/opt/mesher-py/bin/python"
    static let grpcPeer = Lab.fixtures.appendingPathComponent("grpcpeer.py").path
    static let authority = "GrpcService:50051"
    static let page = "hello over h2c\n"

    /// Round robin, so that each instance's share is known; `unavailable` retries a call answered UNAVAILABLE
    /// or reset before any answer, and the budget pays for every retry asked for.
    static let traffic = """
        traffic:
          services:
            GrpcService:
              loadBalancer: round-robin
              retries: {attempts: 2, on: [unavailable, connect-failure, reset], budget: {ratio: 1.0}}

        """

    struct Setup {
        let lab: Lab
        let mesher: Child
        let peers: [String: Child]
    }

    /// The instances, the registry, the capture and a Mesher with two event loops.
    /// `failing`: instances whose every Unary call fails, with the status named; `delay`: seconds each instance
    /// takes to answer a Unary call; `traffic`: the traffic policy (round robin for GrpcService by default).
    static func setUp(failing: [String: String] = [:], delay: Double = 0, traffic: String = traffic) throws -> Setup {
        let lab = try Lab()
        do {
            var peers: [String: Child] = [:]
            for (index, name) in ["g1", "g2", "g3"].enumerated() {
                peers[name] = try lab.spawn(
                    in: lab.server,
                    [python, grpcPeer, "server", "0.0.0.0", "\(7300 + index)", name]
                        + (failing[name].map { [$0] } ?? []) + ["--delay", "\(delay)"],
                    log: name)
            }
            let htdocs = lab.dir.appendingPathComponent("h2www")
            try FileManager.default.createDirectory(at: htdocs, withIntermediateDirectories: true)
            try page.write(to: htdocs.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            // At most 4 streams per connection: Mesher opens more connections to it under load.
            let web = try lab.spawn(
                in: lab.server, ["nghttpd", "--no-tls", "-m", "4", "-a", "0.0.0.0", "-d", htdocs.path, "7310"],
                log: "nghttpd")
            for (index, name) in ["g1", "g2", "g3"].enumerated() {
                try lab.waitForListener(in: lab.server, port: 7300 + index, process: peers[name])
            }
            try lab.waitForListener(in: lab.server, port: 7310, process: web)
            let ip = lab.serverIPv4
            try lab.register(
                "services.yaml",
                """
                services:
                  GrpcService:
                    - {address: \(ip), port: 7300, protocol: h2c}
                    - {address: \(ip), port: 7301, protocol: h2c}
                    - {address: \(ip), port: 7302, protocol: h2c}
                  EmptyGrpc: []
                  H2Web:
                    - {address: \(ip), port: 7310, protocol: h2c}
                  EmptyWeb: []
                """)
            let path = try lab.writeConfig("registry: {directory: \(lab.registryDirectory)}\nthreads: 2\n" + traffic)
            try lab.mesherCommand(["init"]).check("mesher init")
            let mesher = try lab.startMesher(["--config", path])
            return Setup(lab: lab, mesher: mesher, peers: peers)
        } catch {
            lab.destroy()
            throw error
        }
    }

    /// `grpcpeer.py client COMMAND <server>:7300 AUTHORITY ARGUMENTS...`: its arguments as the app runs it.
    static func client(_ lab: Lab, _ command: String, _ arguments: [String], authority: String = authority)
        -> [String]
    {
        [python, grpcPeer, "client", command, "\(lab.serverIPv4):7300", authority] + arguments
    }

    /// The client run to its end in the client namespace, as the app: its JSON line.
    static func grpc(_ lab: Lab, _ command: String, _ arguments: [String], authority: String = authority) throws
        -> [String: Any]
    {
        let result = try lab.inClient(client(lab, command, arguments, authority: authority), timeout: 60)
        return try json(result.stdout, result.stderr)
    }

    /// The last line of `text` as a JSON object.
    static func json(_ text: String, _ context: String = "") throws -> [String: Any] {
        let line = text.split(separator: "\n").last.map(String.init) ?? ""
        let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        return try #require(object, "\(text) \(context)")
    }

    /// Access-log lines of the HTTP/2 streams to `service` (a connection's own line has no method).
    static func streams(_ lab: Lab, _ service: String) -> [String] {
        lab.accessLog().filter {
            $0.contains(#""proto":"h2""#) && $0.contains(#""method":"#) && $0.contains(#""service":"\#(service)""#)
        }
    }

    /// Calls the instances logged, all methods (one line each).
    static func served(_ lab: Lab, _ names: [String], _ method: String = "Unary") -> Int {
        names.map { lab.log($0).split(separator: "\n").filter { $0.hasPrefix(method + " ") }.count }.reduce(0, +)
    }

    static func residentKiB(_ pid: pid_t) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// Mesher's largest resident size while `process` runs (at most `timeout` seconds), in KiB.
    static func peakResidentKiB(_ pid: pid_t, while process: Child, timeout: TimeInterval = 60) -> Int {
        var peak = residentKiB(pid)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline {
            peak = max(peak, residentKiB(pid))
            usleep(20_000)
        }
        return peak
    }

    /// 300 calls on one channel (one connection) are spread over the three instances, each logged once.
    @Test func callsOfOneChannelAreSpreadOverInstances() throws {
        let lab = try Self.setUp().lab
        defer { lab.destroy() }
        let result = try Self.grpc(lab, "calls", ["300"])
        let byInstance = result["by_instance"] as? [String: Int] ?? [:]
        #expect(result["ok"] as? Int == 300, "\(result)")
        #expect(Set(byInstance.keys) == ["g1", "g2", "g3"] && byInstance.values.allSatisfy { $0 >= 60 }, "\(result)")
        #expect(Self.served(lab, ["g1", "g2", "g3"]) == 300)
        #expect(lab.eventually { Self.streams(lab, "grpcservice").count >= 300 })
        let lines = Self.streams(lab, "grpcservice")
        #expect(lines.count == 300, "one line per call: \(lines.count)")
        #expect(lines.allSatisfy { $0.contains(#""grpc_status":0"#) && $0.contains(#""path":"/mesh.Echo/Unary""#) })
        let connection = #""dst":"\#(lab.serverIPv4):7300""#
        #expect(lab.accessLogHas { $0.contains(connection) && $0.contains(#""proto":"h2""#) })
        #expect(lab.accessLog().filter { $0.contains(connection) }.count == 1, "one channel, one connection")
    }

    /// An instance killed (SIGKILL) under a client calling every 5 ms: not one of 400 calls fails, the calls
    /// it was given go to the others (retried: reset before an answer, then refused connects).
    @Test func aKilledInstanceFailsNoCall() throws {
        let setup = try Self.setUp()
        let lab = setup.lab
        defer { lab.destroy() }
        let client = try lab.spawn(
            in: lab.client, uid: Lab.appUID, Self.client(lab, "calls", ["400", "--interval", "0.005"]), log: "client")
        #expect(lab.eventually(timeout: 30) { Self.served(lab, ["g1", "g2", "g3"]) >= 100 || !client.isRunning })
        _ = lab.stop(try #require(setup.peers["g2"]), signal: SIGKILL)
        let servedByG2 = Self.served(lab, ["g2"])
        #expect(lab.stop(client, signal: 0, timeout: 60) == 0, "\(lab.log("client"))")
        let result = try Self.json(lab.log("client"))
        #expect(result["ok"] as? Int == 400 && (result["failures"] as? [Any])?.isEmpty == true, "\(result)")
        let byInstance = result["by_instance"] as? [String: Int] ?? [:]
        #expect((byInstance["g2"] ?? 0) <= servedByG2 && servedByG2 < 200, "\(result), g2 served \(servedByG2)")
        #expect(lab.accessLogHas { $0.contains(#""service":"grpcservice""#) && $0.contains(#""attempts":"#) })
        #expect(lab.eventually { Self.streams(lab, "grpcservice").count >= 400 })
        #expect(Self.streams(lab, "grpcservice").filter { $0.contains(#""grpc_status":0"#) }.count == 400)
    }

    /// 10 MB streamed to a reader that takes at least 2 s: it arrives whole, and Mesher holds only the windows
    /// (its resident size during the stream stays within 48 MiB of what it was before).
    @Test func aSlowStreamReaderGetsEverythingAndMesherHoldsLittle() throws {
        let setup = try Self.setUp()
        let lab = setup.lab
        defer { lab.destroy() }
        #expect(try Self.grpc(lab, "calls", ["30"])["ok"] as? Int == 30, "warm-up")
        let pid = setup.mesher.processIdentifier
        let before = Self.residentKiB(pid)
        // 32 MiB to a reader that takes about 3 s: were Mesher to hold what the reader has not taken yet, it would
        // grow by most of the stream; flow control keeps it to the windows (64 KiB a stream, 1 MiB a connection).
        let total = 32 << 20
        let reader = try lab.spawn(
            in: lab.client, uid: Lab.appUID,
            Self.client(lab, "stream", ["\(total)", "65536", "--read-delay", "0.006", "--timeout", "60"]),
            log: "stream")
        let peak = Self.peakResidentKiB(pid, while: reader)
        #expect(lab.stop(reader, signal: 0, timeout: 10) == 0, "\(lab.log("stream"))")
        let result = try Self.json(lab.log("stream"))
        #expect(result["bytes"] as? Int == total && result["messages"] as? Int == 512, "\(result)")
        #expect(result["code"] as? String == "OK" && (result["seconds"] as? Double ?? 0) >= 2, "\(result)")
        #expect(before > 0 && peak - before < 12 << 10, "Mesher grew by \((peak - before) >> 10) MiB")
        #expect(
            lab.accessLogHas {
                $0.contains(#""path":"/mesh.Echo/Stream""#) && $0.contains(#""grpc_status":0"#)
                    && $0.contains(#""down":\#(total + 512 * 5)"#)
            }, "one line with the stream's body bytes (5 bytes of gRPC framing per message)")
    }

    /// An instance's gRPC error reaches the client with its status (INTERNAL as it is; UNAVAILABLE after a try
    /// on each instance); a call to a service with no instance gets Mesher's answer as a gRPC status.
    @Test func grpcStatusesGoThroughAndMesherAnswersInGRPC() throws {
        let lab = try Self.setUp().lab
        defer { lab.destroy() }
        let failed = try Self.grpc(lab, "fail", ["INTERNAL"])
        #expect(failed["code"] as? String == "INTERNAL", "\(failed)")
        #expect((failed["details"] as? String ?? "").contains("failed the call with INTERNAL"), "\(failed)")
        #expect(Self.served(lab, ["g1", "g2", "g3"], "Fail") == 1, "INTERNAL is not retried")
        #expect(
            lab.accessLogHas {
                $0.contains(#""path":"/mesh.Echo/Fail""#) && $0.contains(#""grpc_status":13"#)
                    && !$0.contains(#""attempts":"#)
            })

        let unavailable = try Self.grpc(lab, "fail", ["UNAVAILABLE"])
        #expect(unavailable["code"] as? String == "UNAVAILABLE", "\(unavailable)")
        #expect(Self.served(lab, ["g1", "g2", "g3"], "Fail") == 4, "one try on each instance")
        #expect(lab.accessLogHas { $0.contains(#""grpc_status":14"#) && $0.contains(#""attempts":3"#) })

        let empty = try Self.grpc(lab, "calls", ["1"], authority: "EmptyGrpc:50051")
        let failure = (empty["failures"] as? [[String: Any]])?.first ?? [:]
        #expect(failure["code"] as? String == "UNAVAILABLE", "\(empty)")
        #expect((failure["details"] as? String ?? "").contains("mesher: no-healthy-instance"), "\(empty)")
        #expect(
            lab.accessLogHas {
                $0.contains(#""service":"emptygrpc""#) && $0.contains(#""grpc_status":14"#)
                    && $0.contains(#""error":"no-healthy-instance""#)
            })
    }

    /// curl with prior knowledge to an HTTP/2 web server behind Mesher, and to a service with no instance.
    @Test func curlWithPriorKnowledge() throws {
        let lab = try Self.setUp().lab
        defer { lab.destroy() }
        let curl = ["curl", "-sS", "-m", "10", "--http2-prior-knowledge", "--connect-to", "::\(lab.serverIPv4):8080"]
        let page = try lab.inClient(curl + ["-w", "%{http_code} %{http_version}", "http://H2Web:8080/"])
        #expect(page.stdout == Self.page + "200 2", "\(page.stdout) \(page.stderr)")
        #expect(lab.accessLogHas { $0.contains(#""service":"h2web""#) && $0.contains(#""status":200"#) })
        let empty = try lab.inClient(curl + ["-i", "http://EmptyWeb:8080/"])
        #expect(empty.stdout.hasPrefix("HTTP/2 503"), "\(empty.stdout) \(empty.stderr)")
        #expect(empty.stdout.lowercased().contains("x-mesher-error: no-healthy-instance"), "\(empty.stdout)")
        // An unknown destination (no service by address, port or :authority) stays an opaque relay: one
        // connection line, no request line.
        let unknown = try lab.spawn(
            in: lab.server,
            [
                "nghttpd", "--no-tls", "-a", "0.0.0.0", "-d", lab.dir.appendingPathComponent("h2www").path,
                "7311",
            ], log: "unknown")
        try lab.waitForListener(in: lab.server, port: 7311, process: unknown)
        let direct = try lab.inClient(Array(curl.prefix(5)) + ["http://\(lab.serverIPv4):7311/"])
        #expect(direct.stdout == Self.page, "\(direct.stdout) \(direct.stderr)")
        let target = #""dst":"\#(lab.serverIPv4):7311""#
        #expect(
            lab.accessLogHas { $0.contains(target) && $0.contains(#""proto":"h2""#) && $0.contains(#""result":"ok""#) })
        #expect(!lab.accessLog().contains { $0.contains(#""authority":"\#(lab.serverIPv4):7311""#) })
    }

    /// h2load: 400 requests on 2 connections, 10 streams at a time, all answered, each its own log line.
    @Test func h2loadThroughMesher() throws {
        let lab = try Self.setUp().lab
        defer { lab.destroy() }
        let result = try lab.inClient(
            [
                "h2load", "-n", "400", "-c", "2", "-m", "10", "--connect-to=\(lab.serverIPv4):8080",
                "http://H2Web:8080/",
            ],
            timeout: 120)
        #expect(result.stdout.contains("400 succeeded, 0 failed, 0 errored, 0 timeout"), "\(result.stdout)")
        #expect(result.stdout.contains("status codes: 400 2xx"), "\(result.stdout)")
        #expect(lab.eventually { Self.streams(lab, "h2web").count >= 400 })
        let lines = Self.streams(lab, "h2web")
        #expect(lines.count == 400 && lines.allSatisfy { $0.contains(#""status":200"#) }, "\(lines.count) lines")
        // 20 streams at a time to an instance that takes 4 per connection: Mesher's pools opened more than one.
        let upstreams = try lab.inClient(
            ["ss", "-Htn", "state", "established", "dst", "\(lab.serverIPv4):7310"], uid: nil)
        let count = upstreams.stdout.split(separator: "\n").count
        #expect(count >= 2, "\(count) connections to the instance: \(upstreams.stdout)")
    }

    /// HTTP/1.1 clients (curl, wrk) to H2Web, whose one instance speaks only h2c: each request goes as a stream
    /// on Mesher's multiplexed connections to it (eight wrk connections share what nghttpd's four streams per
    /// connection need), and comes back as HTTP/1.1: the page, its length, nothing for HEAD.
    @Test func http1ClientsReachAnH2cOnlyInstance() throws {
        let lab = try Self.setUp().lab
        defer { lab.destroy() }
        let url = "http://H2Web:8080/"
        let connect = ["--connect-to", "::\(lab.serverIPv4):8080"]
        let get = try lab.inClient(["curl", "-sS", "-m", "10", "--http1.1", "-i"] + connect + [url])
        #expect(get.stdout.hasPrefix("HTTP/1.1 200"), "\(get.stdout)\n\(get.stderr)")
        #expect(get.stdout.hasSuffix("\r\n\r\n" + Self.page), "\(get.stdout)")
        #expect(get.stdout.lowercased().contains("content-length: \(Self.page.utf8.count)"), "\(get.stdout)")
        let head = try lab.inClient(["curl", "-sS", "-m", "10", "--http1.1", "-I"] + connect + [url])
        #expect(head.stdout.hasPrefix("HTTP/1.1 200") && head.status == 0, "\(head.stdout)\n\(head.stderr)")
        let wrk = try lab.inClient(
            ["wrk", "-t", "1", "-c", "8", "-d", "2s", "-H", "Host: H2Web:8080", "http://\(lab.serverIPv4):8080/"],
            timeout: 60)
        #expect(!wrk.stdout.contains("Non-2xx") && !wrk.stdout.contains("Socket errors"), "\(wrk.stdout)")
        let requests = wrk.stdout.split(separator: "\n").first { $0.contains("requests in") }
        #expect((requests?.split(separator: " ").first.flatMap { Int($0) } ?? 0) >= 100, "\(wrk.stdout)")
        let upstreams = try lab.inClient(
            ["ss", "-Htn", "state", "established", "dst", "\(lab.serverIPv4):7310"], uid: nil)
        let count = upstreams.stdout.split(separator: "\n").count
        #expect(count >= 1 && count < 8, "\(count) connections to the instance for 8 clients: \(upstreams.stdout)")
        let lines = lab.accessLog().filter { $0.contains(#""service":"h2web""#) && $0.contains(#""proto":"http""#) }
        #expect(lines.count >= 100 && lines.allSatisfy { $0.contains(#""status":200"#) }, "\(lines.prefix(3))")
    }

    /// A gRPC channel through two Meshers (the consumer's, and the provider's on the instances' side, which takes
    /// the streams apart again on the app's port): every call answered OK, each a stream in both access logs.
    @Test func aGRPCChannelThroughTwoMeshers() throws {
        let lab = try Self.setUp().lab
        defer { lab.destroy() }
        try lab.startProviderMesher()
        let result = try Self.grpc(lab, "calls", ["100"])
        #expect(result["ok"] as? Int == 100 && (result["failures"] as? [Any])?.isEmpty == true, "\(result)")
        #expect(lab.eventually { Self.streams(lab, "grpcservice").count >= 100 })
        let provider = { lab.accessLog(lab.providerAccessLogPath).filter { $0.contains(#""proto":"h2""#) } }
        #expect(
            lab.eventually {
                provider().filter { $0.contains(#""dir":"inbound""#) && $0.contains(#""grpc_status":0"#) }.count >= 100
            }, "\(provider().prefix(3)) \(lab.log("provider-mesher").suffix(2000))")
    }
}
