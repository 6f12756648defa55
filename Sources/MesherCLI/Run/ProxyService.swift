import Config
import Logging
import NIOCore
import Proxy
import Routing

/// The capture listeners and the explicit proxy. On shutdown: stop accepting, tell every connection to
/// finish (keep-alive connections close after their response in flight, idle ones at once), and stop as
/// soon as the last one is done, or close what is left at `drainTimeout`.
struct ProxyService: MesherService {
    let server: ProxyServer
    let drainTimeout: TimeAmount
    let logger: Logger

    func stop() async {
        logger.info(
            "shutting down: draining open connections",
            metadata: ["open": "\(server.openConnections)", "timeout": "\(drainTimeout)"])
        await server.drain(timeout: drainTimeout)
    }
}
