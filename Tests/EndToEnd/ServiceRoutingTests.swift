import Foundation
import Testing

/// HTTP at L7: the app calls a service by name, Mesher picks an instance from the registry directory.
@Suite(.serialized)
struct ServiceRoutingTests {
    let peer = Lab.fixtures.appendingPathComponent("peer.py").path

    /// Two instances of AccountService (alpha on 7100, beta on 7101) and Mesher reading the registry, balancing
    /// round robin on each event loop (the default, ewma, sends one request at a time to the faster instance).
    func lab(captureDNS: Bool = false, mesherAsRoot: Bool = false) throws -> Lab {
        let lab = try Lab()
        do {
            if captureDNS { try lab.useServerAsResolver(knowing: "example.test") }
            try lab.startApp(name: "alpha", port: 7100)
            try lab.startApp(name: "beta", port: 7101)
            try lab.register(
                "account.yaml",
                """
                services:
                  AccountService:
                    - {address: \(lab.serverIPv4), port: 7100, version: 1.0.0}
                    - {address: \(lab.serverIPv4), port: 7101, version: 1.0.0}
                  EmptyService: []
                """)
            let config = try lab.writeConfig(
                "registry: {directory: \(lab.registryDirectory)}\nrouting: {virtualIPv6Prefix: \"2001:db8:ffff::/96\", virtualIPRange: 240.240.0.0/16}\n"
                    + "http: {forwardedFor: true}\ntraffic: {defaults: {loadBalancer: round-robin}}\n")
            try lab.mesherCommand(["init"] + (captureDNS ? ["--capture-dns"] : [])).check("mesher init")
            try lab.startMesher(["--config", config], asRoot: mesherAsRoot)
        } catch {
            lab.destroy()
            throw error
        }
        return lab
    }

    /// curl as the app, to `http://NAME:8080/...`, with the name pinned to the server's address
    /// (the DNS capture is tested on its own): Mesher sees the Host header and the original destination.
    func call(_ lab: Lab, _ url: String, _ extra: [String] = []) throws -> CommandResult {
        try lab.inClient(
            ["curl", "-sS", "-m", "10", "--connect-to", "::\(lab.serverIPv4):8080"] + extra + [url])
    }

    @Test func callsAServiceByNameAndAlternatesInstances() throws {
        let lab = try lab()
        defer { lab.destroy() }
        var names: [String] = []
        for _ in 0..<4 {
            let result = try call(lab, "http://AccountService:8080/who")
            #expect(result.status == 0, "\(result.stderr)")
            names.append(String(result.stdout.prefix { $0 != " " }))
        }
        #expect(Set(names) == ["alpha", "beta"], "\(names)")
        let forwarded = try call(lab, "http://AccountService:8080/who").stdout
        #expect(forwarded.hasSuffix(" xff=\(lab.clientIPv4) hops=1\n"), "X-Forwarded-For: \(forwarded)")
        #expect(lab.accessLogHas { $0.contains(#""service":"accountservice""#) && $0.contains(#""status":200"#) })
    }

    @Test func hostNamesMatchWithoutCaseOrSearchSuffix() throws {
        let lab = try lab()
        defer { lab.destroy() }
        for host in ["accountservice", "ACCOUNTSERVICE", "accountservice.default.svc.cluster.local"] {
            let result = try call(lab, "http://\(host):8080/who")
            #expect(result.stdout.hasPrefix("alpha") || result.stdout.hasPrefix("beta"), "\(host): \(result.stdout)")
        }
    }

    @Test func removedInstanceStopsReceivingWithinOneSecond() throws {
        let lab = try lab()
        defer { lab.destroy() }
        try lab.register(
            "account.yaml", "services:\n  AccountService:\n    - {address: \(lab.serverIPv4), port: 7101}\n")
        usleep(1_000_000)
        for _ in 0..<6 {
            #expect(try call(lab, "http://AccountService:8080/who").stdout.hasPrefix("beta"))
        }
    }

    @Test func unknownHostGoesToTheOriginalDestination() throws {
        let lab = try lab()
        defer { lab.destroy() }
        let result = try lab.inClient(["curl", "-sS", "-m", "10", "http://\(lab.serverIPv4):7100/who"])
        #expect(
            result.stdout == "alpha /who host=\(lab.serverIPv4):7100 xff=\(lab.clientIPv4) hops=1\n", "\(result.stderr)"
        )
        #expect(lab.accessLogHas { $0.contains(#""upstream":"\#(lab.serverIPv4):7100""#) && !$0.contains("service") })
    }

    @Test func serviceWithoutInstancesGets503AndUnreachableInstance502() throws {
        let lab = try lab()
        defer { lab.destroy() }
        let empty = try call(lab, "http://EmptyService:8080/", ["-i"])
        #expect(empty.stdout.hasPrefix("HTTP/1.1 503"), "\(empty.stdout)")
        #expect(empty.stdout.lowercased().contains("x-mesher-error: no-healthy-instance"))

        try lab.register("down.yaml", "services:\n  DownService:\n    - {address: \(lab.serverIPv4), port: 9}\n")
        usleep(600_000)
        let down = try call(lab, "http://DownService:8080/", ["-i"])
        #expect(down.stdout.hasPrefix("HTTP/1.1 502"), "\(down.stdout)")
        #expect(down.stdout.lowercased().contains("x-mesher-error: connect-refused"))
        #expect(lab.log("mesher").contains("request not forwarded"))
    }

    @Test func malformedRequestGets400AndALogLine() throws {
        let lab = try lab()
        defer { lab.destroy() }
        let raw = "GET / HTTP/1.1\\r\\nHost: AccountService\\r\\nBad Header\\r\\n\\r\\n"
        let result = try lab.inClient([
            "sh", "-c",
            "printf '\(raw)' | timeout 5 /usr/bin/python3 -c 'import socket,sys; s=socket.create_connection((\"\(lab.serverIPv4)\", 8080)); s.sendall(sys.stdin.buffer.read()); print(s.recv(100).decode().splitlines()[0])'",
        ])
        #expect(result.stdout == "HTTP/1.1 400 Bad Request\n", "\(result.stdout) \(result.stderr)")
        #expect(lab.log("mesher").contains("bad HTTP request"))
        #expect(try call(lab, "http://AccountService:8080/who").status == 0, "still serving")
        let looping = try call(lab, "http://AccountService:8080/who", ["-i", "-H", "x-mesher-hop: 16"])
        #expect(looping.stdout.hasPrefix("HTTP/1.1 508"), "\(looping.stdout)")
        #expect(looping.stdout.contains("x-mesher-error: loop-detected"))
        let big = try call(
            lab, "http://AccountService:8080/who", ["-i", "-H", "X-Big: " + String(repeating: "a", count: 70_000)])
        #expect(big.stdout.hasPrefix("HTTP/1.1 400"), "\(big.stdout.prefix(200))")
        #expect(big.stdout.contains("x-mesher-error: header-too-large"))
    }

    @Test func pipelinedRequestsAreAnsweredInOrderAndHTTP10Works() throws {
        let lab = try lab()
        defer { lab.destroy() }
        let pipelined =
            "GET /one HTTP/1.1\\r\\nHost: AccountService\\r\\n\\r\\n"
            + "GET /two HTTP/1.1\\r\\nHost: AccountService\\r\\nConnection: close\\r\\n\\r\\n"
        let result = try lab.inClient(
            ["/usr/bin/python3", peer, "raw", lab.serverIPv4, "8080", pipelined], timeout: 20)
        let parts = result.stdout.components(separatedBy: " | ")
        #expect(parts.count == 4 && parts[0] == "HTTP/1.1 200 OK" && parts[2] == "HTTP/1.1 200 OK", "\(result.stdout)")
        #expect(parts.count == 4 && parts[1].contains(" /one ") && parts[3].contains(" /two "), "\(result.stdout)")

        // Answered as HTTP/1.1 (RFC 9110 §2.5), closed after the body since the 1.0 client did not ask to keep it.
        let old = try call(lab, "http://AccountService:8080/who", ["-0", "-i"])
        #expect(old.stdout.hasPrefix("HTTP/1.1 200") && old.stdout.contains("connection: close"), "\(old.stdout)")
        #expect(old.stdout.contains("/who host=AccountService:8080"))
    }

    @Test func invalidChunkingGets400() throws {
        let lab = try lab()
        defer { lab.destroy() }
        let bad =
            "POST /upload HTTP/1.1\\r\\nHost: AccountService\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\nhello\\r\\n"
        let result = try lab.inClient(["/usr/bin/python3", peer, "raw", lab.serverIPv4, "8080", bad], timeout: 20)
        #expect(result.stdout == "HTTP/1.1 400 Bad Request\n", "\(result.stdout) \(result.stderr)")
        #expect(lab.log("mesher").contains("bad HTTP request"))
    }

    @Test func largeBodiesStreamBothFramings() throws {
        let lab = try lab()
        defer { lab.destroy() }
        let blob = lab.dir.appendingPathComponent("app/blob.bin").path
        try lab.inClient(["dd", "if=/dev/urandom", "of=\(blob)", "bs=1000000", "count=20", "status=none"]).check("dd")
        let expected = try sh(["sha256sum", blob]).check("sha256sum").stdout.prefix(64)
        // Content-Length, with curl's Expect: 100-continue.
        let sized = try call(lab, "http://AccountService:8080/upload", ["--data-binary", "@\(blob)"])
        #expect(sized.stdout == "\(expected) 20000000\n", "\(sized.stderr)")
        let chunked = try call(
            lab, "http://AccountService:8080/upload", ["--data-binary", "@\(blob)", "-H", "Transfer-Encoding: chunked"])
        #expect(chunked.stdout == "\(expected) 20000000\n", "\(chunked.stderr)")
    }

    @Test func keepAliveSurvivesUpstreamClosingIdleConnections() throws {
        let lab = try lab()
        defer { lab.destroy() }
        // The apps close idle keep-alive connections after 1 s; the pooled ones must not fail requests.
        for round in 0..<3 {
            let result = try call(lab, "http://AccountService:8080/who")
            #expect(result.status == 0 && !result.stdout.isEmpty, "round \(round): \(result.stderr)")
            usleep(1_200_000)
        }
    }

    @Test func upgradeSwitchesToAByteRelay() throws {
        let lab = try lab()
        defer { lab.destroy() }
        let result = try lab.inClient(
            ["/usr/bin/python3", peer, "upgrade", lab.serverIPv4, "8080", "AccountService:8080"], timeout: 20)
        #expect(result.stdout == "HTTP/1.1 101 Switching Protocols | ping\n", "\(result.stderr)")
    }

    @Test func explicitProxyModeRoutesServicesAndTunnelsConnect() throws {
        let lab = try lab()
        defer { lab.destroy() }
        let proxy = ["curl", "-sS", "-m", "10", "-x", "http://127.0.0.1:30101"]
        let service = try lab.inClient(proxy + ["http://AccountService:8080/who"])
        #expect(service.stdout.hasPrefix("alpha /who") || service.stdout.hasPrefix("beta /who"), "\(service.stderr)")
        let direct = try lab.inClient(proxy + ["http://\(lab.serverIPv4):7100/who"])
        #expect(direct.stdout.hasPrefix("alpha /who"), "\(direct.stderr)")
        let tunnel = try lab.inClient(proxy + ["--proxytunnel", "http://\(lab.serverIPv4):7101/who"])
        #expect(tunnel.stdout.hasPrefix("beta /who"), "\(tunnel.stderr) \(lab.log("mesher"))")
        let refused = try lab.inClient(proxy + ["--proxytunnel", "-i", "http://\(lab.serverIPv4):9/"])
        #expect(refused.stderr.contains("502"), "\(refused.stdout) \(refused.stderr)")
    }

    /// No --connect-to, no /etc/hosts: the app resolves the service name through the captured DNS, gets a
    /// virtual IP, and its connection to that IP is routed to an instance. Other names still resolve upstream.
    @Test func serviceNamesResolveThroughCapturedDNS() throws {
        let lab = try lab(captureDNS: true)
        defer { lab.destroy() }
        let resolved = try lab.inClient(["getent", "ahostsv4", "AccountService"])
        #expect(resolved.stdout.hasPrefix("240.240."), "\(resolved.stdout) \(resolved.stderr) \(lab.log("mesher"))")
        let byName = try lab.inClient(["curl", "-sS", "-m", "10", "http://AccountService:8080/who"])
        #expect(byName.stdout.hasPrefix("alpha /who") || byName.stdout.hasPrefix("beta /who"), "\(byName.stderr)")
        let other = try lab.inClient(["getent", "ahostsv4", "example.test"])
        #expect(other.stdout.hasPrefix(lab.serverIPv4), "forwarded to the resolver in resolv.conf: \(other.stdout)")
        let counted = try lab.natRules(counters: true).split(separator: "\n").first {
            $0.contains("udp") && $0.contains("15053")
        }
        #expect(counted?.hasPrefix("[0:") == false, "DNS REDIRECT never matched: \(counted ?? "missing")")

        // What decides is the virtual IP the app dialled, even when the Host header names no service.
        let vip = String(resolved.stdout.prefix { $0 != " " })
        let tcp = try lab.inClient(["curl", "-sS", "-m", "10", "http://\(vip):8080/who", "-H", "Host: not-a-service"])
        #expect(tcp.stdout.hasPrefix("alpha /who") || tcp.stdout.hasPrefix("beta /who"), "\(tcp.stderr)")

        // The IPv6 equivalent: the configured /96 followed by the IPv4 virtual IP, captured by ip6tables.
        let resolved6 = try lab.inClient(["getent", "ahostsv6", "AccountService"])
        #expect(resolved6.stdout.hasPrefix("2001:db8:ffff::f0f0:"), "\(resolved6.stdout)")
        let vip6 = String(resolved6.stdout.prefix { $0 != " " })
        let tcp6 = try lab.inClient([
            "curl", "-sS", "-m", "10", "http://[\(vip6)]:8080/who", "-H", "Host: not-a-service",
        ])
        #expect(tcp6.stdout.hasPrefix("alpha /who") || tcp6.stdout.hasPrefix("beta /who"), "\(tcp6.stderr)")
    }

    /// The same over DNS over TCP (glibc's `options use-vc`): the captured TCP connection to port 53 reaches
    /// Mesher's TCP listener, which answers service names itself and forwards other names over TCP; every
    /// message in both directions framed by its 2-byte length.
    @Test func serviceNamesResolveOverTCP() throws {
        let lab = try lab(captureDNS: true)
        defer { lab.destroy() }
        let resolvConf = "/etc/netns/\(lab.client)/resolv.conf"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: resolvConf))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("options use-vc\n".utf8))
        try handle.close()

        let resolved = try lab.inClient(["getent", "ahostsv4", "AccountService"])
        #expect(resolved.stdout.hasPrefix("240.240."), "\(resolved.stdout) \(resolved.stderr) \(lab.log("mesher"))")
        let other = try lab.inClient(["getent", "ahostsv4", "example.test"])
        #expect(other.stdout.hasPrefix(lab.serverIPv4), "forwarded over TCP: \(other.stdout) \(lab.log("mesher"))")
        let rules = try lab.natRules(counters: true).split(separator: "\n").filter { $0.contains("--dport 53 ") }
        let tcp = rules.first { $0.contains("-p tcp") }
        let udp = rules.first { $0.contains("-p udp") }
        #expect(tcp?.hasPrefix("[0:") == false, "DNS over TCP REDIRECT never matched: \(rules)")
        #expect(udp?.hasPrefix("[0:") == true, "no query went over UDP: \(rules)")
    }

    /// Run as root, Mesher is not excluded by uid: its mark (0x539) must keep its own upstream connections and
    /// forwarded DNS queries out of the capture, or they would loop back into it.
    @Test func mesherRunningAsRootDoesNotCaptureItself() throws {
        let lab = try lab(captureDNS: true, mesherAsRoot: true)
        defer { lab.destroy() }
        let other = try lab.inClient(["getent", "ahostsv4", "example.test"], timeout: 20)
        #expect(other.stdout.hasPrefix(lab.serverIPv4), "\(other.stdout) \(other.stderr)")
        let byName = try lab.inClient(["curl", "-sS", "-m", "10", "http://AccountService:8080/who"])
        #expect(byName.stdout.hasPrefix("alpha /who") || byName.stdout.hasPrefix("beta /who"), "\(byName.stderr)")
        let direct = try lab.inClient(["curl", "-sS", "-m", "10", "http://\(lab.serverIPv4):7100/who"])
        #expect(direct.stdout.hasPrefix("alpha /who"), "\(direct.stderr)")
    }
}
