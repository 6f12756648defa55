import Foundation
import Testing

/// The admin port against a hostile web page the developer visits while the port is forwarded: the requests a
/// browser sends without a preflight (a form's POST with `text/plain`) and DNS rebinding (a name of the
/// attacker's resolving to 127.0.0.1) are refused; Mesher's own tools and the kubelet's probes are not.
extension AdminAPITests {
    /// Status and body of one request to the admin port from the app.
    func admin(
        _ lab: Lab, _ path: String, method: String = "GET", headers: [String] = [], address: String = "127.0.0.1"
    ) throws -> (status: String, body: String) {
        let result = try lab.inClient(
            ["curl", "-sS", "-m", "10", "-X", method, "-w", "\n%{http_code}"] + headers.flatMap { ["-H", $0] }
                + ["http://\(address):15000\(path)"])
        let body = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (String(body.last ?? ""), body.dropLast().joined(separator: "\n"))
    }

    @Test func crossSiteAndRebindingRequestsAreRefused() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let config = try lab.writeConfig("admin: {address: 0.0.0.0}\n", name: "admin.yaml")
        let mesher = try lab.startMesher(["--config", config])
        let page = ["Origin: http://evil.example", "Content-Type: text/plain"]

        #expect(try admin(lab, "/logging?level=trace", method: "POST", headers: page).status == "403")
        #expect(try admin(lab, "/logging?level=trace", method: "POST", headers: ["Origin: null"]).status == "403")
        let crossSite = ["Sec-Fetch-Site: cross-site", "Content-Type: text/plain"]
        #expect(try admin(lab, "/logging?level=trace", method: "POST", headers: crossSite).status == "403")
        for host in ["rebind.evil.example:15000", "rebind.evil.example", "127.0.0.1:8080", "localhost.evil.example"] {
            let answer = try admin(lab, "/config_dump", headers: ["Host: \(host)"])
            #expect(answer.status == "403" && !answer.body.contains("registry"), "Host: \(host): \(answer)")
        }
        #expect(json(try get(lab, "/logging"))["level"] as? String == "debug", "the level was not changed")

        // The admin's own origin, localhost, addresses with the port or none, the kubelet's Host (the pod IP).
        let own = ["Origin: http://127.0.0.1:15000", "Sec-Fetch-Site: same-origin"]
        #expect(try admin(lab, "/logging?level=debug", method: "POST", headers: own).status == "200")
        for host in ["localhost:15000", "LOCALHOST", "127.0.0.1", "[::1]:15000"] {
            #expect(try admin(lab, "/config_dump", headers: ["Host: \(host)"]).status == "200", "Host: \(host)")
        }
        let kubelet = try lab.inServer(
            ["curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "http://\(lab.clientIPv4):15000/ready"])
        #expect(kubelet.stdout == "200", "\(kubelet)")
        let status = try lab.inClient([Lab.mesherBinary, "status", "--interval", "0.2"])
        #expect(status.status == 0, "\(status.stderr)")
        let awaited = try lab.inClient([Lab.mesherBinary, "await", "--timeout", "5", "--", "echo", "app"])
        #expect(awaited.stdout == "app\n" && !awaited.stderr.contains("anyway"), "\(awaited.stderr)")

        #expect(try admin(lab, "/quitquitquit", method: "POST", headers: page).status == "403")
        usleep(300_000)
        #expect(mesher.isRunning)
    }

    /// A real browser: a page on another origin (127.0.0.2) whose form posts itself to `/quitquitquit`. The
    /// refusal's log line names the page's origin: proof that the browser did send the form.
    @Test func aPageOnAnotherOriginCannotQuitMesher() throws {
        let lab = try Lab()
        defer { lab.destroy() }
        let mesher = try lab.startMesher()
        let www = lab.dir.appendingPathComponent("evil")
        try FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
        try """
        <html><body><form id="f" method="POST" enctype="text/plain" action="http://127.0.0.1:15000/quitquitquit">
        <input name="a" value="b"></form><script>document.getElementById("f").submit()</script></body></html>
        """.write(to: www.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        let site = try lab.spawn(
            in: lab.client, uid: Lab.appUID,
            ["/usr/bin/python3", "-m", "http.server", "18080", "--bind", "127.0.0.2", "-d", www.path], log: "evil")
        try lab.waitForListener(in: lab.client, port: 18080, process: site)
        let browser = try lab.inClient(
            [
                "timeout", "-k", "5", "45", "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                "--user-data-dir=\(lab.dir.appendingPathComponent("chromium").path)", "--virtual-time-budget=5000",
                "--dump-dom", "http://127.0.0.2:18080/",
            ], uid: nil, timeout: 60)
        #expect(
            lab.eventually(timeout: 5) { lab.log("mesher").contains("http://127.0.0.2:18080") },
            "the browser sent the form: \(browser.stdout.suffix(500)) \(lab.log("mesher").suffix(1500))")
        usleep(300_000)
        #expect(mesher.isRunning, "\(lab.log("mesher").suffix(1000))")
    }
}
