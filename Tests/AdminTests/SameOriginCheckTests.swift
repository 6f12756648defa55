import NIOHTTP1
import Testing

@testable import Admin

/// Another web page's requests (a form's POST, DNS rebinding) are refused; Mesher's tools, the kubelet, Prometheus
/// and the live page's own requests are not.
@Suite struct SameOriginCheckTests {
    func refusal(_ fields: [(String, String)]) -> String? {
        SameOriginCheck.refusal(HTTPHeaders(fields), port: 15000)
    }

    @Test func toolsProbesAndTheLivePageAreServed() {
        for host in [
            "127.0.0.1:15000", "127.0.0.1", "localhost:15000", "LocalHost", "198.18.0.2:15000", "[::1]:15000", "[::1]",
            "[2001:db8::2]:15000",
        ] {
            #expect(refusal([("Host", host)]) == nil, "\(host)")
        }
        #expect(refusal([]) == nil, "HTTP/1.0 without Host")
        let page = [
            ("Host", "127.0.0.1:15000"), ("Origin", "http://127.0.0.1:15000"), ("Sec-Fetch-Site", "same-origin"),
        ]
        #expect(refusal(page) == nil)
        #expect(refusal([("Host", "[::1]:15000"), ("Origin", "http://[::1]:15000")]) == nil)
        #expect(refusal([("Host", "localhost:15000"), ("Sec-Fetch-Site", "none")]) == nil, "typed in the address bar")
        #expect(refusal([("Host", "localhost:15000"), ("Sec-Fetch-Site", "same-site")]) == nil)
    }

    /// DNS rebinding: the attacker's name, or another port (the admin's is the one the request came in on).
    @Test func aHostOtherThanAnAddressOrLocalhostIsRefused() {
        for host in [
            "rebind.evil.example:15000", "rebind.evil.example", "localhost.evil.example", "127.0.0.1.nip.io:15000",
            "127.0.0.1:8080", "127.0.0.1:", "127.0.0.1:+15000", "127.1:15000", "::1", "[::1]15000", "[::1", "[evil]",
            "[127.0.0.1]:15000", "",
        ] {
            #expect(refusal([("Host", host)]) != nil, "\(host)")
        }
        #expect(refusal([("Host", "127.0.0.1"), ("Host", "evil.example")]) != nil)
        #expect(SameOriginCheck.refusal(HTTPHeaders([("Host", "127.0.0.1:8080")]), port: nil) == nil, "port unknown")
    }

    /// What a browser sends without a preflight from another page: a form's POST carries its Origin and
    /// `Sec-Fetch-Site: cross-site`.
    @Test func anotherOriginOrACrossSiteRequestIsRefused() {
        for origin in [
            "http://evil.example", "null", "http://127.0.0.1:8000", "https://127.0.0.1:15000", "http://localhost:15000",
        ] {
            #expect(refusal([("Host", "127.0.0.1:15000"), ("Origin", origin)]) != nil, "\(origin)")
        }
        #expect(refusal([("Origin", "http://127.0.0.1:15000")]) != nil, "an Origin without a Host to be")
        #expect(refusal([("Host", "127.0.0.1:15000"), ("Sec-Fetch-Site", "cross-site")]) != nil)
        let twice = [
            ("Host", "127.0.0.1:15000"), ("Origin", "http://127.0.0.1:15000"), ("Origin", "http://evil.example"),
        ]
        #expect(refusal(twice) != nil)
    }
}
