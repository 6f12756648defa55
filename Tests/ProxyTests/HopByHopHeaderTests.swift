import NIOHTTP1
import Testing

@testable import Proxy

struct HopByHopHeaderTests {
    @Test func connectionHeadersAndTheHeadersTheyNameAreRemoved() {
        var headers = HTTPHeaders([
            ("Host", "app"), ("Connection", "Keep-Alive, X-Secret"), ("X-Secret", "1"), ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"), ("Transfer-Encoding", "chunked"), ("Proxy-Connection", "x"), ("Upgrade", "h2c"),
            ("connection", " close ,x-other "), ("X-Other", "2"), ("Accept", "*/*"),
        ])
        headers.removeHopByHop()
        #expect(headers.map(\.name) == ["Host", "Accept"])
    }

    @Test func headersWithoutHopByHopOnesAreLeftAsTheyAre() {
        var headers = HTTPHeaders([("Host", "app"), ("Connectionless", "yes"), ("X-TE", "1")])
        headers.removeHopByHop()
        #expect(headers.map(\.name) == ["Host", "Connectionless", "X-TE"])
    }

    @Test func upgradeRequestNeedsBothHeaders() {
        #expect(HTTPHeaders([("Connection", "keep-alive, Upgrade"), ("Upgrade", "websocket")]).isUpgradeRequest)
        #expect(!HTTPHeaders([("Upgrade", "websocket")]).isUpgradeRequest)
        #expect(!HTTPHeaders([("Connection", "upgrade")]).isUpgradeRequest)
    }
}
