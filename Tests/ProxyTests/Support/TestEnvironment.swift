import Limits
import Logging
import NIOCore

@testable import Proxy

/// Mesher's default ports, on a host whose only address is 198.18.0.1.
let testLoopGuard = LoopGuard(
    ownPorts: ProxySettings().ownPorts, localAddresses: LocalAddressTable([[198, 18, 0, 1]], lookup: { [] }))

/// Default settings (or `settings`), a silent logger.
func testEnvironment(settings: ProxySettings = ProxySettings(), accessLog: AccessLog? = nil) -> ProxyEnvironment {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return ProxyEnvironment(settings: settings, loopGuard: testLoopGuard, logger: logger, accessLog: accessLog)
}

func testConnection(
    _ channel: any Channel, environment: ProxyEnvironment = testEnvironment(), direction: TrafficDirection = .outbound
) -> DownstreamConnection {
    DownstreamConnection(channel: channel, direction: direction, environment: environment, warnings: RateLimitedLog())
}
