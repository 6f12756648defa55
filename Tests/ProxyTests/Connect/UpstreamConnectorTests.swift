import Foundation
import NIOCore
import Testing

@testable import Proxy

struct UpstreamConnectorTests {
    @Test func connectErrorsAreClassified() {
        #expect(ConnectionOutcome(connectError: ChannelError.connectTimeout(.seconds(5))) == .connectTimeout)
        #expect(ConnectionOutcome(connectError: IOError(errnoCode: ECONNREFUSED, reason: "connect")) == .connectRefused)
        #expect(ConnectionOutcome(connectError: IOError(errnoCode: EHOSTUNREACH, reason: "connect")) == .connectFailed)
    }

    @Test func takesOnlyWhatConnectingNeeds() {
        var settings = ProxySettings()
        settings.connectTimeout = .seconds(2)
        settings.proxyMark = 0x539
        let connector = UpstreamConnector(settings: settings)
        #expect(connector.connectTimeout == .seconds(2) && connector.proxyMark == 0x539)
    }
}
