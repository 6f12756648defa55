import Config
import NIOCore
import Proxy

extension ProxySettings {
    /// The proxy's part of `mesher.yaml`.
    init(config: MesherConfig) {
        self.init()
        outbound = Listener(addresses: config.outbound.addresses, port: config.outbound.port)
        inbound =
            config.inbound.enabled ? Listener(addresses: config.inbound.addresses, port: config.inbound.port) : nil
        explicitProxy =
            config.explicitProxy.enabled
            ? Listener(addresses: [config.explicitProxy.address], port: config.explicitProxy.port) : nil
        // The inbound port stays Mesher's even when inbound capture is off.
        otherOwnPorts = config.inbound.enabled ? [] : [Int(config.inbound.port)]
        if config.admin.enabled { otherOwnPorts.insert(Int(config.admin.port)) }
        if config.dns.enabled { otherOwnPorts.insert(Int(config.dns.port)) }
        otherReservedDescriptors = config.dns.enabled ? config.dns.maxForwards : 0
        connectTimeout = .nanoseconds(config.connection.connectTimeout.nanoseconds)
        idleTimeout = .nanoseconds(config.connection.idleTimeout.nanoseconds)
        bufferLimit = config.connection.bufferLimit.bytes
        proxyMark = config.effectiveProxyMark
        sniffWindow = .nanoseconds(config.sniff.window.nanoseconds)
        opaquePorts = config.sniff.allOpaquePorts
        httpLimits = .init(maxHeadBytes: config.http.maxHeaderBytes.bytes, maxFields: config.http.maxHeaders)
        traffic = config.traffic.policies
        routes = config.routes.rules
        inboundRateLimit = config.inbound.rateLimit
        headerTimeout = .nanoseconds(config.http.headerTimeout.nanoseconds)
        http2.slowReaderBytes = config.http.slowReaderBytes.bytes
        http2.slowReaderTimeout = .nanoseconds(config.http.slowReaderTimeout.nanoseconds)
        maxConnections = config.connection.maxConnections
        addForwardedFor = config.http.forwardedFor
        tracing = config.telemetry.tracing
    }
}
