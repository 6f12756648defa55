import Foundation
import Testing

/// What a neighbour on the pod's network, or the app through the explicit proxy, must not reach through
/// Mesher; and the limits that keep a flood from taking Mesher down.
@Suite(.serialized)
struct ExposureTests {
    let peer = Lab.fixtures.appendingPathComponent("peer.py").path

    /// A third host that only the provider's host can reach (198.19.N.0/24 behind it, no forwarding).
    func backend(_ lab: Lab) throws -> String {
        let name = lab.server + "b"
        let net = lab.serverIPv4.split(separator: ".")[2]
        let steps: [[String]] = [
            ["ip", "netns", "add", name],
            ["ip", "link", "add", name + "x", "type", "veth", "peer", "name", name + "y"],
            ["ip", "link", "set", name + "x", "netns", lab.server], ["ip", "link", "set", name + "y", "netns", name],
            ["ip", "-n", lab.server, "addr", "add", "198.19.\(net).1/24", "dev", name + "x"],
            ["ip", "-n", name, "addr", "add", "198.19.\(net).2/24", "dev", name + "y"],
            ["ip", "-n", lab.server, "link", "set", name + "x", "up"],
            ["ip", "-n", name, "link", "set", name + "y", "up"],
            ["ip", "-n", name, "link", "set", "lo", "up"],
            ["ip", "-n", name, "route", "add", "default", "via", "198.19.\(net).1"],
            // The neighbour sends its packets for the backend network to the provider's host.
            ["ip", "-n", lab.client, "route", "add", "198.19.\(net).0/24", "via", lab.serverIPv4],
        ]
        for step in steps { try sh(step).check(step.joined(separator: " ")) }
        try lab.spawn(
            in: name,
            ["/usr/bin/python3", "-m", "http.server", "8080", "-d", lab.dir.appendingPathComponent("www").path],
            log: "backend")
        try lab.waitForListener(in: name, port: 8080)
        lab.onDestroy { _ = try? sh(["ip", "netns", "del", name]) }
        return "198.19.\(net).2"
    }

    /// F2: inbound capture redirected every packet, whatever its destination, and Mesher connected there.
    @Test func inboundIsNotAnOpenRelay() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let backend = try backend(lab)
        #expect(try sh(["ip", "netns", "exec", lab.server, "sysctl", "-n", "net.ipv4.ip_forward"]).stdout == "0\n")
        try lab.startProviderMesher()
        let direct = try lab.inClient(["curl", "-sS", "-m", "3", "http://\(backend):8080/hello.txt"])
        #expect(direct.status != 0 && direct.stdout.isEmpty, "reached the backend through the pod: \(direct.stdout)")
        // Defence in depth: even with a rule that sends such packets to Mesher, Mesher refuses them.
        try sh([
            "ip", "netns", "exec", lab.server, "iptables", "-t", "nat", "-I", "PREROUTING", "-d", backend, "-p", "tcp",
            "-j", "REDIRECT", "--to-ports", "15006",
        ]).check("extra REDIRECT")
        let redirected = try lab.inClient(["curl", "-sS", "-m", "3", "http://\(backend):8080/hello.txt"])
        #expect(redirected.status != 0 && redirected.stdout.isEmpty, "\(redirected.stdout)")
        #expect(
            lab.accessLogHas(lab.providerAccessLogPath) { $0.contains(#""result":"non-local-destination""#) },
            "\(lab.accessLog(lab.providerAccessLogPath))")
        // The app itself is still reachable.
        let app = try lab.inClient(["curl", "-sS", "-m", "10", "http://\(lab.serverIPv4):8080/hello.txt"])
        #expect(app.stdout == "hello from the server\n", "\(app.stderr)")
    }

    /// CONNECT and absolute-form requests through the explicit proxy never reach Mesher's own ports; bytes
    /// sent right behind a CONNECT are the tunnel's first bytes.
    @Test func explicitProxyStaysOffMeshersOwnPorts() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.startMesher()
        let proxy = ["curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "-x", "http://127.0.0.1:30101"]
        let tunnel = try lab.inClient(proxy + ["-w", "%{http_connect}", "-p", "http://127.0.0.1:15000/healthz"])
        #expect(tunnel.stdout.hasSuffix("403") && tunnel.status != 0, "CONNECT to the admin port: \(tunnel.stdout)")
        let absolute = try lab.inClient(proxy + ["http://127.0.0.1:15000/healthz"])
        #expect(absolute.stdout == "403", "absolute form to the admin port: \(absolute.stdout) \(absolute.stderr)")
        let early = try lab.inClient(
            [
                "/usr/bin/python3", RecordingUpstream.script, "send", "127.0.0.1", "30101",
                "CONNECT \(lab.serverIPv4):\(Lab.peerBase) HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nHELO early\\r\\n",
            ], timeout: 20)
        #expect(early.stdout.contains("250 HELO early"), "\(early.stdout) \(early.stderr)")
    }

    /// Issue 24: 0.0.0.0/8, `::` and their IPv4-mapped forms are this host: on Mesher's own ports the explicit
    /// proxy answers them 403 as it does 127.0.0.1 (`http://0.0.0.0:15000/config_dump` was answered, and
    /// `POST http://0:15000/quitquitquit` stopped Mesher).
    @Test func unspecifiedAddressesAreThisHost() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let mesher = try lab.startMesher()
        let proxy = ["curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "-x", "http://127.0.0.1:30101"]
        for url in [
            "http://0.0.0.0:15000/config_dump", "http://[::ffff:0.0.0.0]:15000/config_dump",
            "http://[::]:15000/config_dump", "http://0.0.0.0:30101/",
        ] {
            let answer = try lab.inClient(proxy + [url])
            #expect(answer.stdout == "403", "\(url): \(answer.stdout) \(answer.stderr)")
        }
        let tunnel = try lab.inClient(proxy + ["-w", "%{http_connect}", "-p", "http://0.0.0.0:15000/healthz"])
        #expect(tunnel.stdout.hasSuffix("403") && tunnel.status != 0, "CONNECT 0.0.0.0:15000: \(tunnel.stdout)")
        // Host "0" as sent (curl would write it 0.0.0.0): resolved, it is 0.0.0.0.
        let quit = try lab.inClient(
            [
                "/usr/bin/python3", RecordingUpstream.script, "send", "127.0.0.1", "30101",
                "POST http://0:15000/quitquitquit HTTP/1.1\\r\\nHost: 0:15000\\r\\nContent-Length: 0\\r\\n\\r\\n",
            ], timeout: 20)
        #expect(
            quit.stdout.hasPrefix(#""HTTP/1.1 403 "#) && quit.stdout.contains("forbidden-destination"), "\(quit.stdout)"
        )
        usleep(300_000)
        #expect(mesher.isRunning, "stopped through the explicit proxy: \(lab.log("mesher").suffix(600))")
    }

    /// Issue 24: a registry entry at an address that is no single other host (0.0.0.0, multicast, broadcast) is
    /// refused with its file and line: a consumer's calls for its service never go into its own admin port.
    @Test func registryEntriesForNoSingleHostAreRefused() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.register("loop.yaml", "services:\n  AdminLoop:\n    - {address: 0.0.0.0, port: 15000}\n")
        try lab.register(
            "group.yaml",
            "services:\n  Group:\n    - {address: 198.18.0.9, port: 80}\n    - {address: 224.0.0.1, port: 80}\n")
        try lab.mesherCommand(["init"]).check("mesher init")
        try lab.startMesher(["--config", try lab.writeConfig("registry: {directory: \(lab.registryDirectory)}\n")])
        // Unknown, the call goes where the app sent it: the server's 404, never the admin port's 200.
        let call = try lab.inClient(
            [
                "curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: AdminLoop",
                "http://\(lab.serverIPv4):8080/config_dump",
            ])
        #expect(call.stdout == "404", "\(call.stdout) \(call.stderr)")
        let log = lab.log("mesher")
        #expect(
            log.contains("\(lab.registryDirectory)/loop.yaml:3:") && log.contains("services.AdminLoop[0].address: "),
            "\(log)")
        #expect(
            log.contains("\(lab.registryDirectory)/group.yaml:4:") && log.contains("services.Group[1].address: "),
            "\(log)")
    }

    /// F3: a request head trickling in a byte at a time (slowloris) is cut off after http.headerTimeout.
    @Test func slowHeadsAreCutOff() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.mesherCommand(["init"]).check("mesher init")
        try lab.startMesher(["--config", try lab.writeConfig("http:\n  headerTimeout: 1s\n")])
        let slow = try lab.inClient(
            [
                "/usr/bin/python3", peer, "trickle", lab.serverIPv4, "8080", "GET / HTTP/1.1\\r\\nHost: x\\r\\nX: ",
                "0.3", "20",
            ],
            timeout: 30)
        #expect(slow.stdout.hasPrefix("HTTP/1.1 408 "), "\(slow.stdout) \(slow.stderr)")
        #expect(
            slow.stdout.contains("after 1.") || slow.stdout.contains("after 2."),
            "closed about a second in: \(slow.stdout)")
    }

    /// F3: past connection.maxConnections, Mesher stops accepting (no spin, nothing refused) and takes the
    /// waiting connections as others close.
    @Test func connectionCapPausesAcceptingAndResumes() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.mesherCommand(["init"]).check("mesher init")
        let mesher = try lab.startMesher(["--config", try lab.writeConfig("connection:\n  maxConnections: 20\n")])
        let result = try lab.inClient(
            ["/usr/bin/python3", peer, "capacity", lab.serverIPv4, "8080", "30"], timeout: 60)
        // 20 answered at once (a few more may be accepted in the wake-up that reached the cap), the rest only
        // once the first closed.
        let counts = result.stdout.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        #expect(counts.count == 4 && (20...24).contains(counts[0]), "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.hasSuffix("then 30 of 30\n"), "\(result.stdout)")
        #expect(lab.log("mesher").contains("connection limit reached"))
        #expect(try cpuSeconds(of: mesher, during: 1) < 0.2, "idle Mesher spins")
    }

    /// F3: out of descriptors, Mesher neither spins nor loses its registry, and serves again afterwards.
    @Test func descriptorExhaustionDoesNotSpin() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        try lab.register(
            "account.yaml", "services:\n  AccountService:\n    - {address: \(lab.serverIPv4), port: 8080}\n")
        try lab.mesherCommand(["init"]).check("mesher init")
        let config = try lab.writeConfig("registry:\n  directory: \(lab.registryDirectory)\n")
        let mesher = try lab.startMesher(["--config", config], prefix: ["prlimit", "--nofile=96:96"])
        let flood = try lab.spawn(
            in: lab.client, uid: Lab.appUID, ["/usr/bin/python3", peer, "capacity", lab.serverIPv4, "8080", "150"],
            log: "flood")
        usleep(1_000_000)
        #expect(try cpuSeconds(of: mesher, during: 1) < 0.2, "spins while connections wait")
        flood.waitUntilExit()
        #expect(lab.log("flood").hasSuffix("then 150 of 150\n"), "\(lab.log("flood"))")
        let byName = try lab.inClient(
            ["curl", "-sS", "-m", "10", "-H", "Host: AccountService", "http://\(lab.serverIPv4):8080/hello.txt"])
        #expect(byName.stdout == "hello from the server\n", "\(byName.stderr) \(lab.log("mesher").suffix(2000))")
    }

    /// User plus system CPU seconds `process` spends during the next `seconds`.
    func cpuSeconds(of process: Child, during seconds: Double) throws -> Double {
        func ticks() throws -> Double {
            let stat = try String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)
            let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
            return (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        }
        let before = try ticks()
        usleep(UInt32(seconds * 1_000_000))
        return (try ticks() - before) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
