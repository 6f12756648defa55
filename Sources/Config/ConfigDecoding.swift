import Foundation
import MesherBase

// Hand-written `init(from:)`s: absent fields keep the defaults of `MesherConfig`, unknown fields are errors
// (a typo must not silently fall back to a default), and values are validated where they are read.

extension MesherConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case outbound, inbound, connection, drainTimeout, log, sniff, registry, routing, explicitProxy, dns, http
        case traffic, routes, service, admin, telemetry, capture, proxyMark, threads
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&outbound, .outbound)
        try c.decode(&inbound, .inbound)
        try c.decode(&connection, .connection)
        try c.decode(&drainTimeout, .drainTimeout, in: Self.drainTimeoutRange)
        try c.decode(&log, .log)
        try c.decode(&sniff, .sniff)
        try c.decode(&registry, .registry)
        try c.decode(&routing, .routing)
        try c.decode(&explicitProxy, .explicitProxy)
        try c.decode(&dns, .dns)
        try c.decode(&http, .http)
        try c.decode(&traffic, .traffic)
        try c.decode(&routes, .routes)
        service = try c.decodeIfPresent(ServiceConfig.self, forKey: .service)
        try c.decode(&admin, .admin)
        try c.decode(&telemetry, .telemetry)
        try c.decode(&capture, .capture)
        if let mark = try c.decodeIfPresent(String.self, forKey: .proxyMark) {
            proxyMark = SocketMark.parse(mark)
            try c.check(
                proxyMark != nil, .proxyMark,
                "expected a mark like \(SocketMark.text(MesherDefaults.proxyMark)), got '\(mark)'")
            try c.check(proxyMark != 0, .proxyMark, "must not be 0 (every unmarked socket has mark 0)")
        }
        if let threads = try c.decodeIfPresent(Int.self, forKey: .threads) {
            try c.check(threads, in: Self.threadsRange, .threads)
            self.threads = threads
        }
    }
}

extension OutboundConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case port, addresses }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&port, .port)
        try c.check(port > 0, .port, "must be 1-65535")
        try c.decode(&addresses, .addresses)
        try c.checkIPAddresses(addresses, .addresses)
        try c.check(!addresses.isEmpty, .addresses, "must not be empty")
    }
}

extension InboundConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case enabled, port, addresses, rateLimit }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        rateLimit = try c.decodeIfPresent(RateLimitEntry.self, forKey: .rateLimit)?.limit
        try c.decode(&enabled, .enabled)
        try c.decode(&port, .port)
        try c.check(port > 0, .port, "must be 1-65535")
        try c.decode(&addresses, .addresses)
        try c.checkIPAddresses(addresses, .addresses)
    }
}

extension ConnectionConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case connectTimeout, idleTimeout, bufferLimit, maxConnections }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&connectTimeout, .connectTimeout, in: Self.connectTimeoutRange)
        try c.decode(&idleTimeout, .idleTimeout, in: Self.idleTimeoutRange)
        try c.decode(&bufferLimit, .bufferLimit, in: Self.bufferLimitRange)
        try c.decode(&maxConnections, .maxConnections, in: Self.maxConnectionsRange)
    }
}

extension LogConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case level, accessLog }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decodeChoice(&level, .level)
        accessLog = try c.decodeIfPresent(String.self, forKey: .accessLog)
    }
}

extension SniffConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case window, opaquePorts }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&window, .window, in: Self.windowRange)
        try c.decode(&opaquePorts, .opaquePorts)
        try c.check(!opaquePorts.contains(0), .opaquePorts, "ports are 1-65535")
    }
}

extension RegistryConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case kind, directory, endpoints, prefix, leaseTTL, tls }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decodeChoice(&kind, .kind)
        try c.decode(&directory, .directory)
        try c.decode(&endpoints, .endpoints)
        for endpoint in endpoints {
            let url = URL(string: endpoint)
            try c.check(
                ["http", "https"].contains(url?.scheme) && url?.host != nil, .endpoints,
                "'\(endpoint)' is not a URL like http://127.0.0.1:2379 or https://10.0.0.5:2379")
        }
        try c.decode(&prefix, .prefix)
        try c.check(prefix.hasPrefix("/"), .prefix, "must start with /")
        try c.decode(&leaseTTL, .leaseTTL, in: Self.leaseTTLRange)
        try c.check(!directory.isEmpty, .directory, "must not be empty")
        tls = try c.decodeIfPresent(RegistryTLSConfig.self, forKey: .tls)
        try c.check(
            tls == nil || endpoints.contains { $0.hasPrefix("https:") }, .tls, "set, but no endpoint is https://")
    }
}

extension RegistryTLSConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case ca, cert, key }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        ca = try c.decodeIfPresent(String.self, forKey: .ca)
        cert = try c.decodeIfPresent(String.self, forKey: .cert)
        key = try c.decodeIfPresent(String.self, forKey: .key)
        try c.check(cert != nil || key == nil, .key, "set without cert")
        try c.check(key != nil || cert == nil, .cert, "set without key")
        for (path, field) in [(ca, CodingKeys.ca), (cert, .cert), (key, .key)] {
            guard let path else { continue }
            try c.check(isReadableFile(path), field, "cannot read '\(path)'")
        }
    }
}

extension RoutingConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case searchSuffixes, virtualIPv6Prefix, virtualIPRange }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&searchSuffixes, .searchSuffixes)
        virtualIPv6Prefix = try c.decodeIfPresent(String.self, forKey: .virtualIPv6Prefix)
        if let prefix = virtualIPv6Prefix {
            try c.check(
                Self.parseIPv6Prefix96(prefix) != nil, .virtualIPv6Prefix,
                "'\(prefix)' is not an IPv6 /96 like fd00:1::/96")
        }
        try c.decode(&virtualIPRange, .virtualIPRange)
        try c.check(
            Self.parseIPv4Block(virtualIPRange) != nil, .virtualIPRange,
            "'\(virtualIPRange)' is not an IPv4 block from /4 to /24 like 240.0.0.0/4 (no bits past the prefix)")
    }
}

extension ExplicitProxyConfig: LocalEndpointConfig {}

extension TelemetryConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case metrics, tracing }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&metrics, .metrics)
        try c.decode(&tracing, .tracing)
    }
}

extension DNSConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case enabled, port, addresses, resolvConf, ttl, maxForwards }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&enabled, .enabled)
        try c.decode(&port, .port)
        try c.check(port > 0, .port, "must be 1-65535")
        try c.decode(&addresses, .addresses)
        try c.checkIPAddresses(addresses, .addresses)
        try c.decode(&resolvConf, .resolvConf)
        try c.decode(&ttl, .ttl, in: Self.ttlRange)
        try c.decode(&maxForwards, .maxForwards, in: Self.maxForwardsRange)
    }
}

extension ServiceConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, version, app, environment, ports, address, tags, `protocol`, healthCheck
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        let name = try c.decode(String.self, forKey: .name)
        try c.check(
            !name.isEmpty && name.count <= 63
                && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") },
            .name, "'\(name)' is not a service name (letters, digits and '-')")
        let ports = try c.decode([UInt16].self, forKey: .ports)
        try c.check(!ports.isEmpty && !ports.contains(0), .ports, "needs at least one port, each 1-65535")
        self.init(name: name, ports: ports)
        version = try c.decodeIfPresent(String.self, forKey: .version)
        app = try c.decodeIfPresent(String.self, forKey: .app)
        environment = try c.decodeIfPresent(String.self, forKey: .environment)
        address = try c.decodeIfPresent(String.self, forKey: .address)
        if let address { try c.checkIPAddresses([address], .address) }
        try c.decode(&tags, .tags)
        // An empty key (`{&a : b}`) decodes as a tag named "", which the registry file of this instance could not carry.
        try c.check(!tags.keys.contains(""), .tags, "a tag name must not be empty")
        try c.decodeChoice(&self.protocol, .protocol)
        try c.decode(&healthCheck, .healthCheck)
    }
}

extension HealthCheckConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, port, host, path, expectStatus, bodyContains, interval, timeout, failureThreshold, successThreshold
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decodeChoice(&kind, .kind)
        port = try c.decodeIfPresent(UInt16.self, forKey: .port)
        try c.check(port != 0, .port, "must be 1-65535")
        host = try c.decodeIfPresent(String.self, forKey: .host)
        if let host { try c.checkIPAddresses([host], .host) }
        try c.decode(&path, .path)
        try c.check(path.hasPrefix("/"), .path, "must start with /")
        expectStatus = try c.decodeIfPresent(Int.self, forKey: .expectStatus)
        if let expectStatus { try c.check((100...599).contains(expectStatus), .expectStatus, "must be 100-599") }
        bodyContains = try c.decodeIfPresent(String.self, forKey: .bodyContains)
        try c.decode(&interval, .interval, in: Self.intervalRange)
        try c.decode(&timeout, .timeout, in: Self.timeoutRange)
        try c.decode(&failureThreshold, .failureThreshold, in: Self.thresholdRange)
        try c.decode(&successThreshold, .successThreshold, in: Self.thresholdRange)
    }
}

extension CaptureConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case mode, queueNumber, queueMark }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decodeChoice(&mode, .mode)
        try c.decode(&queueNumber, .queueNumber)
        if let mark = try c.decodeIfPresent(String.self, forKey: .queueMark) {
            let value = SocketMark.parse(mark)
            try c.check(
                value != nil && value != 0, .queueMark,
                "expected a mark like \(SocketMark.text(MesherDefaults.queueMark)), got '\(mark)'")
            queueMark = value ?? queueMark
        }
    }
}

extension AdminConfig: LocalEndpointConfig {}

/// A listener of Mesher's own on one address (admin, explicit proxy): same fields, own defaults.
protocol LocalEndpointConfig: Decodable {
    init()
    var enabled: Bool { get set }
    var address: String { get set }
    var port: UInt16 { get set }
}

enum LocalEndpointKeys: String, CodingKey, CaseIterable { case enabled, address, port }

extension LocalEndpointConfig {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(LocalEndpointKeys.self)
        try c.decode(&enabled, .enabled)
        try c.decode(&address, .address)
        try c.checkIPAddresses([address], .address)
        try c.decode(&port, .port)
        try c.check(port > 0, .port, "must be 1-65535")
    }
}

extension HTTPConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxHeaderBytes, headerTimeout, maxHeaders, forwardedFor, slowReaderBytes, slowReaderTimeout
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&maxHeaderBytes, .maxHeaderBytes, in: Self.maxHeaderBytesRange)
        try c.decode(&headerTimeout, .headerTimeout, in: Self.headerTimeoutRange)
        try c.decode(&maxHeaders, .maxHeaders, in: Self.maxHeadersRange)
        try c.decode(&forwardedFor, .forwardedFor)
        try c.decode(&slowReaderBytes, .slowReaderBytes, in: Self.slowReaderBytesRange)
        try c.decode(&slowReaderTimeout, .slowReaderTimeout, in: Self.slowReaderTimeoutRange)
    }
}
