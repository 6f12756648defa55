import Foundation

/// The differential test's h11 upstream on the server host (port 8081): it records every request it
/// parses, and answers `/respcase/N` with response case N of `Fixtures/differential/responses.json`.
struct RecordingUpstream {
    static let port = 8081
    static let script = Lab.fixtures.appendingPathComponent("differential/differential.py").path
    let lab: Lab
    let record: String

    init(_ lab: Lab) throws {
        self.lab = lab
        record = lab.dir.appendingPathComponent("upstream-record.jsonl").path
        let process = try lab.spawn(
            in: lab.server,
            [
                "/usr/bin/python3", Self.script, "upstream", "\(Self.port)", record,
                Lab.fixtures.appendingPathComponent("differential/responses.json").path,
            ], log: "recording-upstream")
        try lab.waitForListener(in: lab.server, port: Self.port, process: process)
    }

    /// Sends each text (with `\r\n` escapes) on a connection of its own from the app, one after another; the
    /// whole reply to each.
    func send(_ texts: String...) throws -> [String] {
        let result = try lab.inClient(
            ["/usr/bin/python3", Self.script, "send", lab.serverIPv4, "\(Self.port)"] + texts, timeout: 30)
        return result.stdout.split(separator: "\n").map {
            (try? JSONDecoder().decode(String.self, from: Data($0.utf8))) ?? ""
        }
    }

    /// The requests the upstream parsed so far: method, target, body, headers (lower-cased names).
    struct Request: Decodable {
        var method: String?
        var target: String?
        var body: String?
        var headers: [[String]]?
        var error: String?

        func header(_ name: String) -> [String] {
            (headers ?? []).filter { $0.first?.lowercased() == name }.map { $0.last ?? "" }
        }
    }

    func requests() -> [Request] {
        let text = (try? String(contentsOfFile: record, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
    }
}
