import Foundation
import Testing

/// The admin port beyond /metrics: the JSON API in Envoy's words, the live page in a real headless browser
/// (Debian's chromium), and `mesher status` reading the same API.
@Suite(.serialized)
struct AdminAPITests {
    /// Where the page's screenshot is kept after the lab is gone.
    static let output = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../.build/test-output").standardized

    func get(_ lab: Lab, _ path: String, method: String = "GET") throws -> String {
        try lab.inClient(["curl", "-sS", "-m", "10", "-X", method, "http://127.0.0.1:15000\(path)"]).stdout
    }

    func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    /// Requests to AccountService from the app, one every 50 ms for `seconds`, in the background.
    func backgroundLoad(_ lab: Lab, seconds: Int) throws {
        let count = seconds * 20
        try lab.spawn(
            in: lab.client, uid: Lab.appUID,
            [
                "sh", "-c",
                "for i in $(seq \(count)); do curl -s -o /dev/null --connect-to ::\(lab.serverIPv4):8080 "
                    + "http://AccountService:8080/who; sleep 0.05; done",
            ], log: "load")
    }

    @Test func clustersConfigListenersAndLogLevel() throws {
        let lab = try TelemetryTests().lab()
        defer { lab.destroy() }
        try TelemetryTests().load(lab, "AccountService", 20)
        let clusters = json(try get(lab, "/clusters"))
        let services = clusters["services"] as? [[String: Any]] ?? []
        let account = services.first { $0["name"] as? String == "accountservice" }
        let instances = account?["instances"] as? [[String: Any]] ?? []
        #expect(instances.count == 2 && instances.allSatisfy { $0["health"] as? String == "up" }, "\(clusters)")
        #expect(instances.contains { $0["ewmaMilliseconds"] is Double }, "a latency was measured: \(instances)")
        #expect(instances.allSatisfy { $0["ejected"] as? Bool == false })
        #expect(services.contains { $0["name"] as? String == "emptyservice" })

        let config = json(try get(lab, "/config_dump"))
        #expect((config["registry"] as? [String: Any])?["kind"] as? String == "file", "\(config.keys)")
        #expect(config["traffic"] != nil && config["telemetry"] != nil)
        let listeners = try get(lab, "/listeners")
        #expect(listeners.contains("127.0.0.1:15001") && listeners.contains("\"admin\""), "\(listeners)")

        #expect(json(try get(lab, "/logging"))["level"] as? String == "debug", "the lab runs Mesher at debug")
        #expect(json(try get(lab, "/logging?level=warning", method: "POST"))["level"] as? String == "warning")
        #expect(json(try get(lab, "/logging"))["level"] as? String == "warning")
        let lines = lab.log("mesher").split(separator: "\n").count
        try TelemetryTests().load(lab, "AccountService", 5)
        #expect(lab.log("mesher").split(separator: "\n").count == lines, "no more debug lines")
    }

    /// The page in a real browser: after its refreshes (virtual time runs the 2 s timer), the DOM shows the
    /// service with a rate that moved and both instances up; the screenshot is kept.
    @Test func livePageRendersInAHeadlessBrowser() throws {
        let lab = try TelemetryTests().lab()
        defer { lab.destroy() }
        try TelemetryTests().load(lab, "AccountService", 10)
        try backgroundLoad(lab, seconds: 8)
        let chromium = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=6000"]
        usleep(1_000_000)
        let dom = try lab.inClient(chromium + ["--dump-dom", "http://127.0.0.1:15000/"], uid: nil, timeout: 60).stdout
        let row = dom.components(separatedBy: "<tr").first {
            $0.contains(#"data-service="accountservice" data-direction="outbound""#)
        }
        let rate = row?.components(separatedBy: #"class="num rate">"#).dropFirst().first?
            .prefix { $0 != "<" }
        #expect(Double(rate ?? "") ?? 0 > 0, "a rate that moved: \(row ?? dom.suffix(3000).description)")
        #expect(dom.components(separatedBy: #"<td class="up">up</td>"#).count - 1 >= 2, "both instances up")
        #expect(dom.contains("updated "), "the refresh ran")
        try FileManager.default.createDirectory(at: Self.output, withIntermediateDirectories: true)
        let screenshot = Self.output.appendingPathComponent("admin-page.png").path
        let shot = try lab.inClient(
            chromium + ["--window-size=1200,1100", "--screenshot=\(screenshot)", "http://127.0.0.1:15000/"],
            uid: nil, timeout: 60)
        #expect(FileManager.default.fileExists(atPath: screenshot), "\(shot.stderr.suffix(500))")
        print("admin page screenshot: \(screenshot)")
    }

    @Test func statusPrintsTheTable() throws {
        let lab = try TelemetryTests().lab()
        defer { lab.destroy() }
        try backgroundLoad(lab, seconds: 4)
        usleep(500_000)
        let status = try lab.inClient([Lab.mesherBinary, "status", "--interval", "1"], uid: nil)
        #expect(status.status == 0, "\(status.stderr)")
        let row = status.stdout.split(separator: "\n").first { $0.hasPrefix("accountservice") } ?? ""
        let fields = row.split(separator: " ", omittingEmptySubsequences: true)
        #expect(row.contains("outbound") && row.contains("2/2 up"), "\(status.stdout)")
        #expect(fields.count >= 6 && Double(fields[4]) ?? 0 > 0, "a rate: \(status.stdout)")
        #expect(status.stdout.contains("emptyservice"), "a service without traffic is listed too")
    }
}
