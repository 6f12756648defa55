import Admin
import Config
import DNS
import Foundation
import Logging
import NIOCore
import Routing
import Telemetry

/// Service names answer with virtual IPs; other names are forwarded to the resolvers the host was given.
struct DNSService: MesherService {
    let server: DNSServer

    init(
        _ config: DNSConfig, proxyMark: UInt32?, router: ServiceRouter, group: any EventLoopGroup, logger: Logger
    ) throws {
        let resolvConf = (try? String(contentsOfFile: config.resolvConf, encoding: .utf8)) ?? ""
        let (upstreams, searchDomains) = DNSServerConfiguration.parseResolvConf(resolvConf)
        if upstreams.isEmpty {
            logger.warning(
                "no upstream resolver: only service names will resolve",
                metadata: ["resolvConf": "\(config.resolvConf)"])
        }
        let configuration = DNSServerConfiguration(
            addresses: config.addresses, port: Int(config.port), upstreams: upstreams,
            ttl: UInt32(clamping: config.ttl.seconds), searchDomains: searchDomains, socketMark: proxyMark,
            maxForwards: config.maxForwards)
        server = try DNSServer.start(configuration: configuration, group: group, logger: logger) { name in
            // One lock per answer (answers are cached by the app's resolver for the TTL), not per request.
            let view = router.view
            return view.service(forHost: name).map {
                DNSServiceAnswer(ipv4: view.virtualIPs.address(of: $0), ipv6: view.virtualIPs.ipv6Address(of: $0))
            }
        }
    }

    func stop() async { server.close() }

    /// `mesher_dns_answers_total`, read at each scrape.
    var answerTotals: [MetricsExporter.Total] {
        server.answers.map { MetricsExporter.Total(MetricNames.dnsAnswers, [("kind", $0.key)], Double($0.value)) }
    }
}
