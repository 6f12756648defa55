import Foundation
import Testing

/// The probe's findings against the HTTP path, through a real capture to an upstream that records what it
/// parsed (h11): each must hold on any pooled connection, for any client.
@Suite(.serialized)
struct SmugglingTests {
    func lab() throws -> (Lab, RecordingUpstream) {
        let lab = try Lab()
        do {
            let upstream = try RecordingUpstream(lab)
            // One event loop: every client shares one pool, as the probe's victim did.
            try lab.mesherCommand(["init"]).check("mesher init")
            try lab.startMesher(["--config", try lab.writeConfig("threads: 1\n")])
            return (lab, upstream)
        } catch {
            lab.destroy()
            throw error
        }
    }

    /// F1: a chunked body on a GET went upstream unframed and became a request of its own; an unterminated
    /// smuggled POST then swallowed the next client's request, Authorization header included.
    @Test func smuggledRequestsNeverReachTheUpstream() throws {
        let (lab, upstream) = try lab()
        defer { lab.destroy() }
        let text = "POST /capture HTTP/1.1\r\nHost: x\r\nContent-Length: 97\r\n\r\n"
        let size = String(text.utf8.count, radix: 16)
        let smuggled = text.replacingOccurrences(of: "\r\n", with: "\\r\\n")
        let replies = try upstream.send(
            "GET /first HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n\(size)\\r\\n\(smuggled)\\r\\n0\\r\\n\\r\\n",
            "GET /private HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: Bearer victim-secret\\r\\nConnection: close\\r\\n\\r\\n"
        )
        #expect(replies.count == 2 && replies[1].hasSuffix("target=/private n=0"), "\(replies)")
        let seen = upstream.requests()
        #expect(
            seen.map { $0.target ?? "error" } == ["/first", "/private"], "\(seen.map { $0.target ?? $0.error ?? "" })")
        #expect(seen.first?.body?.contains("POST /capture") == true, "the smuggled text is the first request's body")
        #expect(seen.last?.header("authorization") == ["Bearer victim-secret"])
    }

    /// F1: Connection naming Content-Length, and TRACE with a body.
    @Test func framingSurvivesConnectionAndTrace() throws {
        let (lab, upstream) = try lab()
        defer { lab.destroy() }
        let replies = try upstream.send(
            "GET /a HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 34\\r\\nConnection: Content-Length\\r\\n\\r\\nGET /smuggled-cl HTTP/1.1\\r\\nX: y\\r\\n\\r\\n",
            "TRACE /b HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 31\\r\\n\\r\\nGET /smuggled-trace HTTP/1.1\\r\\n\\r\\n",
            "GET /victim HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
        #expect(replies.count == 3 && replies[1].hasPrefix("HTTP/1.1 400 "), "\(replies)")
        #expect(replies.last?.hasSuffix("target=/victim n=0") == true, "\(replies)")
        #expect(upstream.requests().map { $0.target ?? "error" } == ["/a", "/victim"])
    }

    /// F4: a 101 to a plain GET with a whole response behind it; the next client, on the pooled connection,
    /// got the injected response.
    @Test func unsolicited101NeverPoisonsThePool() throws {
        let (lab, upstream) = try lab()
        defer { lab.destroy() }
        let replies = try upstream.send(
            "GET /respcase/4 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n",
            "GET /B HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
        #expect(replies.first?.hasPrefix("HTTP/1.1 502 ") == true, "\(replies)")
        #expect(
            replies.last?.hasSuffix("target=/B n=0") == true && replies.last?.contains("injected") == false,
            "\(replies)")
    }

    /// F7: an HTTP/1.0 keep-alive client (ApacheBench -k) waited for a close that came after the idle timeout.
    @Test func http10KeepAliveClientsFinish() throws {
        let (lab, _) = try lab()
        defer { lab.destroy() }
        let ab = try lab.inClient(
            ["ab", "-k", "-n", "100", "-c", "2", "-s", "5", "http://\(lab.serverIPv4):8080/hello.txt"], timeout: 30)
        #expect(ab.status == 0 && ab.stdout.contains("Complete requests:      100"), "\(ab.stdout)\(ab.stderr)")
        #expect(ab.stdout.contains("Keep-Alive requests:    100"), "\(ab.stdout)")
    }

    /// F7: a chunked response to an HTTP/1.0 client is delimited by closing, and says so.
    @Test func chunkedResponseToHTTP10ClientEndsWithClose() throws {
        let (lab, upstream) = try lab()
        defer { lab.destroy() }
        let reply = try upstream.send("GET /respcase/1 HTTP/1.0\\r\\nConnection: keep-alive\\r\\n\\r\\n").first ?? ""
        #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n") && reply.contains("connection: close\r\n"), "\(reply)")
        #expect(!reply.contains("chunked") && reply.hasSuffix("\r\n\r\nok"), "\(reply)")
    }

    /// HEAD answered chunked or without a length: no stray last chunk before the next response.
    @Test func headResponsesCarryNoBody() throws {
        let (lab, upstream) = try lab()
        defer { lab.destroy() }
        for headCase in [8, 9] {
            let reply =
                try upstream.send(
                    "HEAD /respcase/\(headCase) HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /next HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n"
                ).first ?? ""
            let parts = reply.components(separatedBy: "\r\n\r\n")
            #expect(
                parts.count == 3 && parts[1].hasPrefix("HTTP/1.1 200 ") && parts[2] == "target=/next n=0", "\(reply)")
        }
    }

    /// An upgrade the upstream declines (200) leaves the connection HTTP: the next request is read as one.
    @Test func declinedUpgradeStaysHTTP() throws {
        let (lab, upstream) = try lab()
        defer { lab.destroy() }
        let reply =
            try upstream.send(
                "GET /u1 HTTP/1.1\\r\\nHost: x\\r\\nConnection: Upgrade\\r\\nUpgrade: websocket\\r\\nContent-Length: 4\\r\\n\\r\\ndataGET /u2 HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n"
            ).first ?? ""
        #expect(reply.hasSuffix("target=/u2 n=0"), "\(reply)")
        let seen = upstream.requests()
        #expect(seen.map { $0.target ?? "error" } == ["/u1", "/u2"] && seen.first?.body == "data")
        #expect(lab.accessLogHas { $0.contains(#""path":"/u2""#) }, "Mesher read the second request itself")
    }

    /// Two Host fields are refused; an absolute-form target's authority wins over Host.
    @Test func hostIsUnambiguous() throws {
        let (lab, upstream) = try lab()
        defer { lab.destroy() }
        let replies = try upstream.send(
            "GET /two HTTP/1.1\\r\\nHost: a\\r\\nHost: b\\r\\n\\r\\n",
            "GET http://real:81/abs HTTP/1.1\\r\\nHost: decoy\\r\\nConnection: close\\r\\n\\r\\n")
        #expect(replies.first?.hasPrefix("HTTP/1.1 400 ") == true && replies.first?.contains("duplicate-host") == true)
        let seen = upstream.requests()
        #expect(
            seen.map { $0.target ?? "" } == ["/abs"] && seen.first?.header("host") == ["real:81"],
            "\(seen.map(\.headers))")
    }

    /// The access log's HTTP connection lines count the bytes on the wire (a GET is not "up":0).
    @Test func accessLogCountsWireBytes() throws {
        let (lab, upstream) = try lab()
        defer { lab.destroy() }
        _ = try upstream.send("GET /count HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
        #expect(
            lab.accessLogHas {
                $0.contains(#""proto":"http""#) && $0.contains(#""up":51,"#) && $0.contains(#""result""#)
            },
            "\(lab.accessLog())")
    }
}
