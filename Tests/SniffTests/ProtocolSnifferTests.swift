import Foundation
import NIOCore
import Testing

@testable import Sniff

struct ProtocolSnifferTests {
    /// ClientHellos captured from `openssl s_client`, with and without a server name.
    static let helloWithSNI = Array(
        Data(
            base64Encoded:
                "FgMBATwBAAE4AwP1enK+HI75AH4kd0u+8JdiM5bsi2usPEH3X7hs/M5TRyB6JZEeUmPWAC3JOe3vexNv18R43o4UoO8AbkZ9uwI47wA+EwITAxMBwCzAMACfzKnMqMyqwCvALwCewCTAKABrwCPAJwBnwArAFAA5wAnAEwAzAJ0AnAA9ADwANQAvAP8BAACxAAAAFAASAAAPYXBpLm1lc2hlci50ZXN0AAsABAMAAQIACgAWABQAHQAXAB4AGQAYAQABAQECAQMBBAAjAAAAFgAAABcAAAANACoAKAQDBQMGAwgHCAgICQgKCAsIBAgFCAYEAQUBBgEDAwMBAwIEAgUCBgIAKwAJCAMEAwMDAgMBAC0AAgEBADMAJgAkAB0AICWJnUPcKAAxMR/8QJKvFF6T9v6LaE45Ntv3v5I/dAkF"
        )!)
    static let helloWithoutSNI = Array(
        Data(
            base64Encoded:
                "FgMBASQBAAEgAwPioZTzzf9cwLOoP0+wpYUJACBkaprgS1seOwDfgt6dtSDyecfcYo11U2PVhKak/IaxKsJgLHn0/MkU0M7blMWs1QA+EwITAxMBwCzAMACfzKnMqMyqwCvALwCewCTAKABrwCPAJwBnwArAFAA5wAnAEwAzAJ0AnAA9ADwANQAvAP8BAACZAAsABAMAAQIACgAWABQAHQAXAB4AGQAYAQABAQECAQMBBAAjAAAAFgAAABcAAAANACoAKAQDBQMGAwgHCAgICQgKCAsIBAgFCAYEAQUBBgEDAwMBAwIEAgUCBgIAKwAJCAMEAwMDAgMBAC0AAgEBADMAJgAkAB0AICQ1Ah4qtbq0OMtseFnSt4kM9oVPl8mbly7lMDn0QINx"
        )!)

    func classify(_ bytes: [UInt8]) -> SniffResult { ProtocolSniffer.classify(ByteBuffer(bytes: bytes)) }
    func classify(_ text: String) -> SniffResult { classify(Array(text.utf8)) }

    @Test(arguments: ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"])
    func httpMethods(_ method: String) {
        #expect(classify("\(method) /path?q=1 HTTP/1.1\r\nHost: AccountService\r\n\r\n") == .http)
    }

    @Test func http10AndAbsoluteForm() {
        #expect(classify("GET / HTTP/1.0\r\n\r\n") == .http)
        #expect(classify("GET http://AccountService:8080/x HTTP/1.1\r\n") == .http)
        #expect(classify("CONNECT example.test:443 HTTP/1.1\r\n") == .http)
    }

    @Test func requestLineSplitAcrossPackets() {
        #expect(classify("G") == .needMore)
        #expect(classify("GE") == .needMore)
        #expect(classify("GET ") == .needMore)
        #expect(classify("GET /index.html HT") == .needMore)
        #expect(classify("GET /index.html HTTP/1.1\r") == .needMore)
        #expect(classify("GET /index.html HTTP/1.1\r\n") == .http)
    }

    @Test func textProtocolsThatLookLikeHTTPAreOpaque() {
        #expect(classify("GET mykey\r\n") == .opaque, "a Redis inline command")
        #expect(classify("HELO mesher\r\n") == .opaque)
        #expect(classify("SSH-2.0-OpenSSH_9.2\r\n") == .opaque)
        #expect(classify("CONNECT {\"verbose\":false}\r\n") == .opaque, "NATS")
        #expect(classify("GE(T / HTTP/1.1\r\n") == .opaque, "not a method token")
    }

    /// What an HTTP server would read as a request goes to Mesher's parser (which refuses what it does not
    /// accept) instead of reaching the app as opaque bytes, past the L7 path.
    @Test func requestLinesMesherRefusesAreStillHTTP() {
        #expect(classify("GET / HTTP/2.0\r\n") == .http)
        #expect(classify("GET / http/1.1\r\n") == .http)
        #expect(classify("PROPFIND /dav HTTP/1.1\r\n") == .http)
        #expect(classify("get / HTTP/1.1\r\n") == .http)
        #expect(classify("\r\nGET / HTTP/1.1\r\n") == .http)
        #expect(classify("\r\n") == .needMore)
        #expect(classify("\r") == .needMore)
        #expect(classify("\r\n\r") == .needMore)
    }

    @Test func overlongRequestLineIsHTTPWhenItLooksLikeOne() {
        #expect(classify("GET /" + String(repeating: "a", count: 9000)) == .http)
        #expect(classify("GET " + String(repeating: "a", count: 9000)) == .opaque)
        // The answer does not depend on where TCP cut the bytes: the same with the line's end in the same read.
        #expect(classify("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\n") == .http)
        #expect(classify("GET " + String(repeating: "a", count: 9000) + " HTTP/1.1\r\n") == .opaque)
    }

    @Test func http2Preface() {
        #expect(classify("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == .needMore)
        #expect(classify("PRI * HTTP/2.0\r\n") == .needMore)
        #expect(classify("PUT / HTTP/1.1\r\n") == .http, "starts with P but is not the preface")
    }

    @Test func tlsClientHelloWithServerName() {
        #expect(classify(Self.helloWithSNI) == .tls(serverName: "api.mesher.test"))
        #expect(classify(Self.helloWithoutSNI) == .tls(serverName: nil))
    }

    @Test func tlsClientHelloSplitAcrossPackets() {
        for cut in [1, 3, 5, 6, 50, Self.helloWithSNI.count - 1] {
            #expect(classify(Array(Self.helloWithSNI.prefix(cut))) == .needMore, "cut at \(cut)")
        }
    }

    @Test func truncatedOrCorruptHelloIsStillTLSWithoutName() {
        var corrupt = Self.helloWithSNI
        corrupt[43] = 0xFF  // session id length runs past the record
        #expect(classify(corrupt) == .tls(serverName: nil))
    }

    @Test func binaryAndEmpty() {
        #expect(classify([]) == .needMore)
        #expect(classify([0x16, 0x02]) == .opaque, "not a TLS version")
        #expect(classify([0x16, 0x03, 0x01, 0x00, 0x05, 0x02]) == .opaque, "a handshake that is not a ClientHello")
        #expect(classify([0x00, 0x00, 0x00, 0x08, 0x04, 0xD2, 0x16, 0x2F]) == .opaque, "PostgreSQL SSLRequest")
        #expect(classify(Array(repeating: 0xFF, count: 64)) == .opaque)
    }

    @Test func fuzzedInputNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let length = Int.random(in: 0...300, using: &generator)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if !bytes.isEmpty && Bool.random() { bytes[0] = 0x16 }
            if bytes.count > 2 && Bool.random() { bytes[1] = 0x03 }
            _ = classify(bytes)
        }
        for cut in 0..<Self.helloWithSNI.count {
            var mutated = Self.helloWithSNI
            mutated[cut] ^= 0xA5
            _ = classify(mutated)
        }
    }
}
