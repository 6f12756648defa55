import Foundation
import Synchronization

/// Two hosts made of network namespaces, joined by a veth pair:
/// the client (app as uid 1000, Mesher as uid 1337) at 198.18.N.1 / 2001:db8:N::1 and
/// the server (HTTP on 8080, raw TCP peers on 7000-7004) at 198.18.N.2 / 2001:db8:N::2.
/// `destroy()` removes namespaces, processes and files; call it in a `defer`.
final class Lab {
    static let appUID = 1000
    static let proxyUID = 1337
    static let peerBase = 7000
    private static let counter = Atomic<Int>(0)

    let client: String
    let server: String
    let serverIPv4: String
    let serverIPv6: String
    let clientIPv4: String
    let dir: URL
    let mesher: String
    private var processes: [Child] = []
    private var cleanups: [() -> Void] = []
    private var destroyed = false

    static var mesherBinary: String {
        if let path = ProcessInfo.processInfo.environment["MESHER_BIN"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/mesher").path
    }

    static var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    }

    init() throws {
        guard getuid() == 0 else { throw ShellError(description: "end-to-end tests need root (ip netns, iptables)") }
        Self.removeStaleNamespaces()
        let number = Self.counter.add(1, ordering: .relaxed).newValue
        let net = Int.random(in: 0...255)
        let name = "mxe\(getpid())n\(number)"
        client = name + "c"
        server = name + "s"
        clientIPv4 = "198.18.\(net).1"
        serverIPv4 = "198.18.\(net).2"
        serverIPv6 = "2001:db8:\(String(net, radix: 16))::2"
        mesher = Self.mesherBinary
        dir = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        do {
            try setUp(net: net, name: name)
        } catch {
            destroy()
            throw error
        }
    }

    deinit { destroy() }

    private func setUp(net: Int, name: String) throws {
        for sub in ["app", "proxy", "www", "registry"] {
            try FileManager.default.createDirectory(
                at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        chmod(dir.path, 0o755)
        chown(dir.appendingPathComponent("app").path, uid_t(Self.appUID), gid_t(Self.appUID))
        chown(dir.appendingPathComponent("proxy").path, uid_t(Self.proxyUID), gid_t(Self.proxyUID))
        chown(dir.appendingPathComponent("registry").path, uid_t(Self.proxyUID), gid_t(Self.proxyUID))
        let v6 = String(net, radix: 16)
        let steps: [[String]] = [
            ["ip", "netns", "add", client], ["ip", "netns", "add", server],
            ["ip", "link", "add", name + "a", "type", "veth", "peer", "name", name + "b"],
            ["ip", "link", "set", name + "a", "netns", client], ["ip", "link", "set", name + "b", "netns", server],
            ["ip", "-n", client, "addr", "add", "\(clientIPv4)/24", "dev", name + "a"],
            ["ip", "-n", server, "addr", "add", "\(serverIPv4)/24", "dev", name + "b"],
            ["ip", "-n", client, "addr", "add", "2001:db8:\(v6)::1/64", "dev", name + "a", "nodad"],
            ["ip", "-n", server, "addr", "add", "\(serverIPv6)/64", "dev", name + "b", "nodad"],
            ["ip", "-n", client, "link", "set", name + "a", "up"],
            ["ip", "-n", server, "link", "set", name + "b", "up"],
            ["ip", "-n", client, "link", "set", "lo", "up"], ["ip", "-n", server, "link", "set", "lo", "up"],
        ]
        for step in steps { try sh(step).check(step.joined(separator: " ")) }
        try "hello from the server\n".write(
            to: dir.appendingPathComponent("www/hello.txt"), atomically: true, encoding: .utf8)
        try spawn(
            in: server,
            [
                "/usr/bin/python3", "-m", "http.server", "8080", "--bind", "::", "-d",
                dir.appendingPathComponent("www").path,
            ], log: "http")
        try spawn(
            in: server,
            [
                "/usr/bin/python3", Self.fixtures.appendingPathComponent("peer.py").path, "serve", "0.0.0.0",
                "\(Self.peerBase)",
            ], log: "peer")
        try waitForListener(in: server, port: 8080)
        try waitForListener(in: server, port: Self.peerBase + 4)
    }

    // MARK: - Running things

    /// Starts a long-running process in a namespace, optionally as another uid; output goes to `<log>.log`.
    @discardableResult
    func spawn(in namespace: String, uid: Int? = nil, netAdmin: Bool = false, _ command: [String], log: String) throws
        -> Child
    {
        let logPath = dir.appendingPathComponent("\(log).log").path
        let fd = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ShellError(description: "cannot open \(logPath)") }
        defer { close(fd) }
        let child = try Child(
            ["ip", "netns", "exec", namespace] + Self.asUser(uid, netAdmin: netAdmin) + command, stdout: fd, stderr: fd)
        processes.append(child)
        return child
    }

    /// Runs a command in the client namespace, as the app unless `uid` says otherwise.
    @discardableResult
    func inClient(_ command: [String], uid: Int? = Lab.appUID, timeout: TimeInterval = 120) throws -> CommandResult {
        try sh(["ip", "netns", "exec", client] + Self.asUser(uid) + command, timeout: timeout)
    }

    /// `mesher` in the client namespace as root (init, uninstall).
    @discardableResult
    func mesherCommand(_ arguments: [String]) throws -> CommandResult {
        try inClient([mesher] + arguments, uid: nil)
    }

    /// `mesher run` as the proxy uid, with an access log, ready once started (listening, gate open); `prefix`
    /// goes in front of the command (`prlimit ...`).
    @discardableResult
    func startMesher(
        _ arguments: [String] = [], asRoot: Bool = false, netAdmin: Bool = false, prefix: [String] = []
    ) throws -> Child {
        let process = try spawn(
            in: client, uid: asRoot ? nil : Self.proxyUID, netAdmin: netAdmin,
            prefix + [mesher, "run", "--log-level", "debug", "--access-log", accessLogPath] + arguments, log: "mesher")
        try waitUntilRunning(process, log: "mesher")
        return process
    }

    /// Writes a config file of its own name in the lab; its path.
    func writeConfig(_ yaml: String, name: String) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        return path
    }

    /// A real etcd (Debian's etcd-server) on the server host, with a data directory of `generation`'s own
    /// (a new generation is an etcd that lost its data); with `tls`, HTTPS only and client certificates required.
    @discardableResult
    func startEtcd(generation: Int = 1, tls: EtcdCertificates? = nil) throws -> Child {
        let data = dir.appendingPathComponent("etcd-\(generation)").path
        let url = "\(tls == nil ? "http" : "https")://\(serverIPv4):2379"
        let tlsFlags =
            tls.map {
                [
                    "--cert-file", $0.serverCert, "--key-file", $0.serverKey, "--client-cert-auth", "--trusted-ca-file",
                    $0.ca,
                ]
            } ?? []
        let etcd = try spawn(
            in: server,
            [
                "etcd", "--name", "lab", "--data-dir", data, "--listen-client-urls", url, "--advertise-client-urls",
                url,
                "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                "--initial-cluster", "lab=http://127.0.0.1:2380",
            ] + tlsFlags, log: "etcd-\(generation)")
        try waitForListener(in: server, port: 2379, process: etcd)
        return etcd
    }

    /// `etcdctl get --prefix`, as a consumer without Mesher would read the registry.
    func etcdKeys(_ prefix: String = "/mesher/services/", tls: EtcdCertificates? = nil) throws -> String {
        let endpoint = "\(tls == nil ? "http" : "https")://\(serverIPv4):2379"
        return try inServer(
            ["env", "ETCDCTL_API=3", "etcdctl", "--endpoints", endpoint] + (tls?.etcdctlFlags ?? [])
                + ["get", "--prefix", prefix],
            uid: nil, timeout: 10
        ).stdout
    }

    /// Polls `condition` for up to `timeout` seconds.
    func eventually(timeout: TimeInterval = 5, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if try condition() { return true }
            usleep(50_000)
        } while Date() < deadline
        return false
    }

    /// A Mesher on the server host too (the provider side): `mesher init` there and `mesher run` as the
    /// proxy uid, with its own access log; ready once started.
    @discardableResult
    func startProviderMesher(_ arguments: [String] = []) throws -> Child {
        try sh(["ip", "netns", "exec", server, mesher, "init"]).check("mesher init (provider)")
        let process = try spawn(
            in: server, uid: Self.proxyUID,
            [mesher, "run", "--log-level", "debug", "--access-log", providerAccessLogPath] + arguments,
            log: "provider-mesher")
        try waitUntilRunning(process, log: "provider-mesher")
        return process
    }

    /// A command in the server namespace, as the app unless `uid` says otherwise.
    @discardableResult
    func inServer(_ command: [String], uid: Int? = Lab.appUID, timeout: TimeInterval = 120) throws -> CommandResult {
        try sh(["ip", "netns", "exec", server] + Self.asUser(uid) + command, timeout: timeout)
    }

    /// `mesher init` with default rules, then `mesher run`.
    @discardableResult
    func captureWithMesher() throws -> Child {
        try mesherCommand(["init"]).check("mesher init")
        return try startMesher()
    }

    /// Gives the client namespace its own resolv.conf (ip netns exec bind-mounts it), a default route
    /// through the server (so that service virtual IPs are routable, as in a pod) and a DNS server on the
    /// server host that knows `name`.
    func useServerAsResolver(knowing name: String) throws {
        let etc = "/etc/netns/\(client)"
        try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
        try "nameserver \(serverIPv4)\nsearch default.svc.cluster.local\n".write(
            toFile: etc + "/resolv.conf", atomically: true, encoding: .utf8)
        chmod(etc + "/resolv.conf", 0o644)
        try sh(["ip", "-n", client, "route", "add", "default", "via", serverIPv4]).check("default route")
        try sh(["ip", "-6", "-n", client, "route", "add", "default", "via", serverIPv6]).check("IPv6 default route")
        try spawn(
            in: server,
            [
                "/usr/bin/python3", Self.fixtures.appendingPathComponent("peer.py").path, "dns", serverIPv4, name,
                serverIPv4,
            ],
            log: "dns")
        usleep(300_000)
    }

    var registryDirectory: String { dir.appendingPathComponent("registry").path }

    /// Writes a registry file (atomically, as a deploy tool would).
    func register(_ file: String, _ yaml: String) throws {
        try yaml.write(toFile: registryDirectory + "/" + file, atomically: true, encoding: .utf8)
        chmod(registryDirectory + "/" + file, 0o644)
    }

    /// A mesher.yaml in the lab; its path, for `--config`.
    func writeConfig(_ yaml: String) throws -> String {
        let path = dir.appendingPathComponent("mesher.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        return path
    }

    /// An HTTP/1.1 app (peer.py http) in the server namespace that answers GETs with its name.
    @discardableResult
    func startApp(name: String, port: Int) throws -> Child {
        let app = try spawn(
            in: server,
            ["/usr/bin/python3", Self.fixtures.appendingPathComponent("peer.py").path, "http", "::", "\(port)", name],
            log: "app-\(name)")
        try waitForListener(in: server, port: port, process: app)
        return app
    }

    var accessLogPath: String { dir.appendingPathComponent("proxy/access.log").path }
    var providerAccessLogPath: String { dir.appendingPathComponent("proxy/provider-access.log").path }

    func accessLog(_ path: String? = nil) -> [String] {
        ((try? String(contentsOfFile: path ?? accessLogPath, encoding: .utf8)) ?? "").split(separator: "\n").map(
            String.init)
    }

    /// Whether a line matching `predicate` appears within `timeout` (Mesher writes it when the connection ends,
    /// which can be just after the client saw the end).
    func accessLogHas(_ path: String? = nil, timeout: TimeInterval = 5, _ predicate: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if accessLog(path).contains(where: predicate) { return true }
            usleep(20_000)
        } while Date() < deadline
        return false
    }

    func log(_ name: String) -> String {
        (try? String(contentsOfFile: dir.appendingPathComponent("\(name).log").path, encoding: .utf8)) ?? ""
    }

    /// iptables-save of the client's nat table, without counters and comments.
    func natRules(ipv6: Bool = false, counters: Bool = false, namespace: String? = nil) throws -> String {
        let tool = ipv6 ? "ip6tables-save" : "iptables-save"
        let result = try sh(["ip", "netns", "exec", namespace ?? client, tool, "-t", "nat"] + (counters ? ["-c"] : []))
            .check(tool)
        return result.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.joined(separator: "\n")
    }

    /// Waits until something listens on `port`; gives up early when `process` (the one expected to listen) died.
    func waitForListener(in namespace: String, port: Int, process: Child? = nil, timeout: TimeInterval = 15) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let result = try sh(["ip", "netns", "exec", namespace, "ss", "-Htln", "sport = :\(port)"])
            if !result.stdout.isEmpty { return }
            if let process, !process.isRunning { break }
            usleep(50_000)
        }
        throw ShellError(description: "nothing listens on port \(port) in \(namespace); mesher log: \(log("mesher"))")
    }

    /// Waits for Mesher's "mesher running" line, logged once every listener is bound (and, in nfqueue mode,
    /// the gate marks): a listening port alone can come a moment before the capture starts.
    func waitUntilRunning(_ process: Child, log name: String, timeout: TimeInterval = 15) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log(name).contains("mesher running") { return }
            if !process.isRunning { break }
            usleep(50_000)
        }
        throw ShellError(description: "\(name) did not start; its log: \(log(name))")
    }

    /// Sends a signal and waits for the exit; returns the exit status.
    func stop(_ process: Child, signal: Int32 = SIGTERM, timeout: TimeInterval = 20) -> Int32 {
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Runs `cleanup` when the lab is destroyed, after its processes are gone (extra namespaces, say).
    func onDestroy(_ cleanup: @escaping () -> Void) {
        cleanups.append(cleanup)
    }

    func destroy() {
        guard !destroyed else { return }
        destroyed = true
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for process in processes { process.waitUntilExit() }
        for cleanup in cleanups { cleanup() }
        // And whatever those started inside the namespaces.
        for namespace in [client, server] {
            let pids = (try? sh(["ip", "netns", "pids", namespace]).stdout) ?? ""
            for pid in pids.split(separator: "\n").compactMap({ pid_t($0) }) { kill(pid, SIGKILL) }
        }
        _ = try? sh(["ip", "netns", "del", client])
        try? FileManager.default.removeItem(atPath: "/etc/netns/\(client)")
        _ = try? sh(["ip", "netns", "del", server])
        try? FileManager.default.removeItem(at: dir)
    }

    /// `netAdmin`: keep CAP_NET_ADMIN alone (ambient), as the sidecar has it in nfqueue mode.
    private static func asUser(_ uid: Int?, netAdmin: Bool = false) -> [String] {
        guard let uid else { return [] }
        let capability = netAdmin ? ["--inh-caps", "+net_admin", "--ambient-caps", "+net_admin"] : []
        return ["setpriv", "--reuid", "\(uid)", "--regid", "\(uid)", "--clear-groups"] + capability
    }

    /// Namespaces left by a test run that crashed (its pid is gone).
    private static func removeStaleNamespaces() {
        guard let list = try? sh(["ip", "netns", "list"]) else { return }
        for line in list.stdout.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            guard name.hasPrefix("mxe"), let pid = Int(name.dropFirst(3).prefix { $0.isNumber }) else { continue }
            guard pid != Int(getpid()) && kill(pid_t(pid), 0) != 0 else { continue }
            // Its processes outlived the run that started them: end them with their namespace.
            let pids = (try? sh(["ip", "netns", "pids", name]).stdout) ?? ""
            for leftover in pids.split(separator: "\n").compactMap({ pid_t($0) }) { kill(leftover, SIGKILL) }
            _ = try? sh(["ip", "netns", "del", name])
        }
    }
}
