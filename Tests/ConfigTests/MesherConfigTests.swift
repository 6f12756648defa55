import MesherBase
import Testing

@testable import Config

struct MesherConfigTests {
    @Test func emptyFileGivesDefaults() throws {
        #expect(try MesherConfig.parse("") == MesherConfig())
        #expect(try MesherConfig.parse("# only a comment\n") == MesherConfig())
        #expect(try MesherConfig.parse("---\n") == MesherConfig(), "an empty document (found by FuzzConfig)")
        #expect(try MesherConfig.parse("--- ~\n...\n") == MesherConfig())
    }

    @Test func defaults() {
        let config = MesherConfig()
        #expect(config.outbound.port == 15001)
        #expect(config.outbound.addresses == ["127.0.0.1", "::1"])
        #expect(config.connection.connectTimeout == ConfigDuration(seconds: 5))
        #expect(config.connection.idleTimeout == ConfigDuration(seconds: 3600))
        #expect(config.log.level == .info && config.log.accessLog == nil)
    }

    @Test func fullFile() throws {
        let config = try MesherConfig.parse(
            """
            outbound:
              port: 16001
              addresses: [127.0.0.1]
            connection:
              connectTimeout: 250ms
              idleTimeout: 2m
              bufferLimit: 1MiB
            drainTimeout: 30s
            log:
              level: debug
              accessLog: /var/log/mesher/access.log
            sniff:
              window: 20ms
              opaquePorts: [2575, 7000]
            proxyMark: 0x10
            threads: 2
            """)
        #expect(config.sniff.window == ConfigDuration(milliseconds: 20))
        #expect(config.sniff.allOpaquePorts.isSuperset(of: [2575, 7000, 3306, 25]))
        #expect(config.outbound.port == 16001 && config.outbound.addresses == ["127.0.0.1"])
        #expect(config.connection.connectTimeout == ConfigDuration(milliseconds: 250))
        #expect(config.connection.idleTimeout == ConfigDuration(seconds: 120))
        #expect(config.connection.bufferLimit.bytes == 1 << 20)
        #expect(config.drainTimeout == ConfigDuration(seconds: 30))
        #expect(config.log.level == .debug && config.log.accessLog == "/var/log/mesher/access.log")
        #expect(config.proxyMark == 0x10 && config.threads == 2)
    }

    @Test func partialSectionKeepsOtherDefaults() throws {
        let config = try MesherConfig.parse("connection:\n  idleTimeout: 10s\n")
        #expect(config.connection.connectTimeout == MesherConfig().connection.connectTimeout)
        #expect(config.connection.idleTimeout == ConfigDuration(seconds: 10))
    }

    /// Each bad file: the line and field the error must name.
    @Test(arguments: [
        ("outbound:\n  port: 15001\n  adresses: [127.0.0.1]\n", 3, "outbound.adresses", "unknown field"),
        ("log:\n  level: chatty\n", 2, "log.level", "not one of"),
        ("connection:\n  connectTimeout: soon\n", 2, "connection.connectTimeout", "expected a duration"),
        ("connection:\n  idleTimeout: 0s\n", 2, "connection.idleTimeout", "must be at least 1s"),
        ("connection:\n  bufferLimit: 12 apples\n", 2, "connection.bufferLimit", "expected a size"),
        ("\n\noutbound:\n  port: 70000\n", 4, "outbound.port", "expected"),
        ("outbound:\n  port: 0\n", 2, "outbound.port", "1-65535"),
        ("outbound:\n  addresses: [localhost]\n", 2, "outbound.addresses", "not an IP address"),
        ("threads: 0\n", 1, "threads", "must be at least 1"),
        ("routing:\n  virtualIPv6Prefix: 2001:db8::/64\n", 2, "routing.virtualIPv6Prefix", "IPv6 /96"),
        ("routing:\n  virtualIPRange: 240.240.0.1/16\n", 2, "routing.virtualIPRange", "no bits past the prefix"),
        ("routing:\n  virtualIPRange: 240.240.0.0/28\n", 2, "routing.virtualIPRange", "from /4 to /24"),
        ("registry:\n  kind: zookeeper\n", 2, "registry.kind", "'zookeeper' is not one of file, etcd"),
        ("capture:\n  mode: tproxy\n", 2, "capture.mode", "'tproxy' is not one of redirect, nfqueue"),
        ("capture:\n  mode: [nfqueue]\n", 2, "capture.mode", "expected"),
        (
            "service:\n  name: A\n  ports: [80]\n  healthCheck: {kind: grpc}\n", 4, "service.healthCheck.kind",
            "'grpc' is not one of tcp, http, none"
        ),
        (
            "service:\n  name: A\n  ports: [80]\n  protocol: h3\n", 4, "service.protocol",
            "'h3' is not one of auto, http1, h2c"
        ),
        ("registry:\n  kind: etcd\n  endpoints: [127.0.0.1:2379]\n", 3, "registry.endpoints", "not a URL"),
        ("registry:\n  leaseTTL: 1s\n", 2, "registry.leaseTTL", "must be at least 3s"),
        ("service:\n  name: A\n  ports: []\n", 3, "service.ports", "at least one port"),
        ("service:\n  ports: [80]\n", 1, "service.name", "required field missing"),
        ("http:\n  maxHeaderBytes: 10\n", 2, "http.maxHeaderBytes", "must be at least 1KiB"),
        ("dns:\n  addresses: [here]\n", 2, "dns.addresses", "not an IP address"),
        ("explicitProxy:\n  address: anywhere\n", 2, "explicitProxy.address", "not an IP address"),
        ("sniff:\n  opaquePorts: [25, 0]\n", 2, "sniff.opaquePorts", "1-65535"),
        ("sniff:\n  window: later\n", 2, "sniff.window", "expected a duration"),
        ("proxyMark: purple\n", 1, "proxyMark", "expected a mark"),
        ("log: [a, b]\n", 1, "log", "expected"),
        ("service:\n  name: A\n  ports: [80]\n  tags: {&a : b}\n", 4, "service.tags", "must not be empty"),
    ])
    func badFileNamesLineAndField(_ yaml: String, _ line: Int, _ field: String, _ message: String) {
        #expect {
            try MesherConfig.parse(yaml, source: "mesher.yaml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.line == line && error.field == field && error.message.contains(message)
                && error.description.hasPrefix("mesher.yaml:\(line): \(field): ")
        }
    }

    /// Modes and kinds are enums spelled in the file as their cases are named.
    @Test func choicesDecodeFromTheirSpelling() throws {
        for level in LogLevel.allCases {
            #expect(try MesherConfig.parse("log: {level: \(level.rawValue)}\n").log.level == level)
        }
        for kind in RegistryKind.allCases {
            #expect(try MesherConfig.parse("registry: {kind: \(kind.rawValue)}\n").registry.kind == kind)
        }
        for kind in HealthCheckKind.allCases {
            let yaml = "service: {name: A, ports: [80], healthCheck: {kind: \(kind.rawValue)}}\n"
            #expect(try MesherConfig.parse(yaml).service?.healthCheck.kind == kind)
        }
        for mode in CaptureMode.allCases {
            #expect(try MesherConfig.parse("capture: {mode: \(mode.rawValue)}\n").capture.mode == mode)
        }
        for spoken in InstanceProtocol.allCases {
            let yaml = "service: {name: A, ports: [80], protocol: \(spoken.rawValue)}\n"
            #expect(try MesherConfig.parse(yaml).service?.protocol == spoken)
        }
        let defaults = MesherConfig()
        #expect(defaults.capture.mode == .redirect && defaults.registry.kind == .file && defaults.log.level == .info)
        #expect(ServiceConfig(name: "A", ports: [80]).healthCheck.kind == .tcp)
        // The health check probes where callers reach the instance unless told otherwise.
        #expect(ServiceConfig(name: "A", ports: [80]).healthCheck.host == nil)
        let probed = "service: {name: A, ports: [80], healthCheck: {host: 127.0.0.1}}\n"
        #expect(try MesherConfig.parse(probed).service?.healthCheck.host == "127.0.0.1")
    }

    @Test func ipv6PrefixBytes() throws {
        let config = try MesherConfig.parse("routing:\n  virtualIPv6Prefix: 2001:db8:ffff::/96\n")
        #expect(config.routing.virtualIPv6PrefixBytes == [0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0])
        #expect(MesherConfig().routing.virtualIPv6PrefixBytes == nil)
        #expect(MesherConfig().routing.virtualIPRangeValue == (0xF000_0000, 4))
        let range = try MesherConfig.parse("routing:\n  virtualIPRange: 240.240.0.0/16\n").routing.virtualIPRangeValue
        #expect(range == (0xF0F0_0000, 16))
    }

    @Test func yamlSyntaxErrorNamesLine() {
        #expect {
            try MesherConfig.parse("log:\n  level: info\n   bad: [\n", source: "m.yaml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.line != nil && error.message.hasPrefix("invalid YAML")
        }
    }

    /// libyaml reports an error at the end of the input on the line after it (found by FuzzConfig).
    @Test(arguments: [("{7y", 1), ("a: [\n", 1), ("a: 1\nb: [", 2), ("a: 1\r\nb: [\r\n", 2), ("a: 1\rb: {", 2)])
    func syntaxErrorAtTheEndNamesTheLastLine(_ yaml: String, _ line: Int) {
        #expect {
            try MesherConfig.parse(yaml, source: "m.yaml")
        } throws: { error in
            (error as? ConfigError)?.line == line
        }
    }

    @Test func unreadableFile() {
        #expect {
            try MesherConfig.load(path: "/nonexistent/mesher.yaml")
        } throws: { error in
            (error as? ConfigError)?.description.hasPrefix("/nonexistent/mesher.yaml: cannot read") == true
        }
    }

    @Test(arguments: [
        ("250ms", Int64(250_000_000)), ("5s", 5_000_000_000), ("2m", 120_000_000_000), ("1h", 3_600_000_000_000),
        ("1.5s", 1_500_000_000), ("3", 3_000_000_000),
    ])
    func durations(_ text: String, _ nanoseconds: Int64) {
        #expect(ConfigDuration(parsing: text)?.nanoseconds == nanoseconds)
    }

    @Test(arguments: ["", "s", "-1s", "5 parsecs", "1e400s"])
    func badDurations(_ text: String) {
        #expect(ConfigDuration(parsing: text) == nil)
    }
}

/// Every number, duration and size of mesher.yaml has a range checked at load; the error names the file,
/// line, field and the bound, and nothing out of range reaches the code that converts it.
struct ConfigBoundsTests {
    @Test(arguments: [
        // Crashed at start (UInt32 seconds) or was taken as is before the bounds.
        ("dns:\n  ttl: 5000000000s\n", 2, "dns.ttl", "must be at most 1h"),
        ("connection:\n  bufferLimit: 1000GiB\n", 2, "connection.bufferLimit", "must be at most 64MiB"),
        ("connection:\n  bufferLimit: 4095\n", 2, "connection.bufferLimit", "must be at least 4KiB"),
        ("connection:\n  connectTimeout: 0s\n", 2, "connection.connectTimeout", "must be at least 10ms"),
        ("connection:\n  connectTimeout: 2000000h\n", 2, "connection.connectTimeout", "must be at most 5m"),
        ("connection:\n  idleTimeout: 2000000h\n", 2, "connection.idleTimeout", "must be at most 24h"),
        ("connection:\n  maxConnections: 0\n", 2, "connection.maxConnections", "must be at least 1"),
        ("connection:\n  maxConnections: 1048577\n", 2, "connection.maxConnections", "must be at most 1048576"),
        ("drainTimeout: 11m\n", 1, "drainTimeout", "must be at most 10m"),
        ("sniff:\n  window: 0s\n", 2, "sniff.window", "must be at least 1ms"),
        ("sniff:\n  window: 1h\n", 2, "sniff.window", "must be at most 5s"),
        ("registry:\n  leaseTTL: 5000000000s\n", 2, "registry.leaseTTL", "must be at most 1h"),
        ("dns:\n  maxForwards: 0\n", 2, "dns.maxForwards", "must be at least 1"),
        ("dns:\n  maxForwards: 65537\n", 2, "dns.maxForwards", "must be at most 65536"),
        ("http:\n  maxHeaderBytes: 2MiB\n", 2, "http.maxHeaderBytes", "must be at most 1MiB"),
        ("http:\n  headerTimeout: 500ms\n", 2, "http.headerTimeout", "must be at least 1s"),
        ("http:\n  headerTimeout: 6m\n", 2, "http.headerTimeout", "must be at most 5m"),
        ("http:\n  slowReaderBytes: 512KiB\n", 2, "http.slowReaderBytes", "must be at least 1MiB"),
        ("http:\n  slowReaderTimeout: 11m\n", 2, "http.slowReaderTimeout", "must be at most 10m"),
        ("http:\n  maxHeaders: 0\n", 2, "http.maxHeaders", "must be at least 1"),
        ("http:\n  maxHeaders: 1001\n", 2, "http.maxHeaders", "must be at most 1000"),
        ("threads: 257\n", 1, "threads", "must be at most 256"),
        ("proxyMark: 0\n", 1, "proxyMark", "must not be 0"),
        (
            "service:\n  name: A\n  ports: [80]\n  healthCheck: {interval: 0s}\n", 4, "service.healthCheck.interval",
            "must be at least 100ms"
        ),
        (
            "service:\n  name: A\n  ports: [80]\n  healthCheck: {interval: 2h}\n", 4, "service.healthCheck.interval",
            "must be at most 1h"
        ),
        (
            "service:\n  name: A\n  ports: [80]\n  healthCheck: {timeout: 0s}\n", 4, "service.healthCheck.timeout",
            "must be at least 10ms"
        ),
        (
            "service:\n  name: A\n  ports: [80]\n  healthCheck: {timeout: 1h}\n", 4, "service.healthCheck.timeout",
            "must be at most 5m"
        ),
        (
            "service:\n  name: A\n  ports: [80]\n  healthCheck: {failureThreshold: 0}\n", 4,
            "service.healthCheck.failureThreshold", "must be at least 1"
        ),
        (
            "service:\n  name: A\n  ports: [80]\n  healthCheck: {failureThreshold: 101}\n", 4,
            "service.healthCheck.failureThreshold", "must be at most 100"
        ),
        (
            "service:\n  name: A\n  ports: [80]\n  healthCheck: {successThreshold: 101}\n", 4,
            "service.healthCheck.successThreshold", "must be at most 100"
        ),
        (
            "service:\n  name: A\n  ports: [80]\n  healthCheck: {expectStatus: 600}\n", 4,
            "service.healthCheck.expectStatus", "100-599"
        ),
        ("service:\n  name: A\n  ports: [80]\n  healthCheck: {port: 0}\n", 4, "service.healthCheck.port", "1-65535"),
        ("dns:\n  port: 0\n", 2, "dns.port", "1-65535"),
        ("inbound:\n  port: 0\n", 2, "inbound.port", "1-65535"),
        ("admin:\n  port: 0\n", 2, "admin.port", "1-65535"),
        ("explicitProxy:\n  port: 0\n", 2, "explicitProxy.port", "1-65535"),
        ("capture:\n  queueNumber: 65536\n", 2, "capture.queueNumber", "expected"),
        ("capture:\n  queueMark: 0\n", 2, "capture.queueMark", "expected a mark"),
    ])
    func outOfRangeIsRefused(_ yaml: String, _ line: Int, _ field: String, _ message: String) {
        #expect {
            try MesherConfig.parse(yaml, source: "mesher.yaml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.line == line && error.field == field && error.message.contains(message)
                && error.description.hasPrefix("mesher.yaml:\(line): \(field): ")
        }
    }

    /// The bounds themselves are allowed.
    @Test func boundsAreInclusive() throws {
        let lowest = try MesherConfig.parse(
            """
            connection: {connectTimeout: 10ms, idleTimeout: 1s, bufferLimit: 4KiB, maxConnections: 1}
            drainTimeout: 0s
            sniff: {window: 1ms}
            registry: {leaseTTL: 3s}
            dns: {ttl: 0s, maxForwards: 1}
            http: {maxHeaderBytes: 1KiB, headerTimeout: 1s, maxHeaders: 1}
            threads: 1
            service: {name: A, ports: [80], healthCheck: {interval: 100ms, timeout: 10ms, failureThreshold: 1}}
            """)
        #expect(lowest.connection.maxConnections == 1 && lowest.dns.maxForwards == 1 && lowest.http.maxHeaders == 1)
        #expect(lowest.dns.ttl == ConfigDuration(seconds: 0) && lowest.drainTimeout == ConfigDuration(seconds: 0))
        let highest = try MesherConfig.parse(
            """
            connection: {connectTimeout: 5m, idleTimeout: 24h, bufferLimit: 64MiB, maxConnections: 1048576}
            drainTimeout: 10m
            sniff: {window: 5s}
            registry: {leaseTTL: 1h}
            dns: {ttl: 1h, maxForwards: 65536}
            http: {maxHeaderBytes: 1MiB, headerTimeout: 5m, maxHeaders: 1000}
            threads: 256
            service: {name: A, ports: [80], healthCheck: {interval: 1h, timeout: 5m, successThreshold: 100}}
            """)
        #expect(highest.connection.bufferLimit == ByteSize(bytes: 64 << 20))
        #expect(highest.connection.maxConnections == 1_048_576 && highest.dns.maxForwards == 65536)
        #expect(highest.http.headerTimeout == ConfigDuration(minutes: 5) && highest.http.maxHeaders == 1000)
        #expect(highest.dns.ttl == ConfigDuration(hours: 1) && highest.registry.leaseTTL == ConfigDuration(hours: 1))
    }

    @Test func newFieldsHaveTheirDefaults() {
        let config = MesherConfig()
        #expect(config.http.headerTimeout == ConfigDuration(seconds: 10))
        #expect(config.http.maxHeaders == 100)
        #expect(config.connection.maxConnections == 16384)
        #expect(config.dns.maxForwards == 256)
        #expect(config.registry.leaseTTL == ConfigDuration(seconds: 10))
    }

    @Test func newFieldsAreRead() throws {
        let config = try MesherConfig.parse(
            "http: {headerTimeout: 30s, maxHeaders: 50}\nconnection: {maxConnections: 1000}\ndns: {maxForwards: 64}\n")
        #expect(config.http.headerTimeout == ConfigDuration(seconds: 30) && config.http.maxHeaders == 50)
        #expect(config.connection.maxConnections == 1000 && config.dns.maxForwards == 64)
    }

    /// Every default is inside its own range (a default out of range would be refused when written out).
    @Test func defaultsAreInRange() {
        let config = MesherConfig()
        #expect(MesherConfig.drainTimeoutRange.contains(config.drainTimeout))
        #expect(ConnectionConfig.connectTimeoutRange.contains(config.connection.connectTimeout))
        #expect(ConnectionConfig.idleTimeoutRange.contains(config.connection.idleTimeout))
        #expect(ConnectionConfig.bufferLimitRange.contains(config.connection.bufferLimit))
        #expect(ConnectionConfig.maxConnectionsRange.contains(config.connection.maxConnections))
        #expect(SniffConfig.windowRange.contains(config.sniff.window))
        #expect(RegistryConfig.leaseTTLRange.contains(config.registry.leaseTTL))
        #expect(DNSConfig.ttlRange.contains(config.dns.ttl))
        #expect(DNSConfig.maxForwardsRange.contains(config.dns.maxForwards))
        #expect(HTTPConfig.maxHeaderBytesRange.contains(config.http.maxHeaderBytes))
        #expect(HTTPConfig.headerTimeoutRange.contains(config.http.headerTimeout))
        #expect(HTTPConfig.maxHeadersRange.contains(config.http.maxHeaders))
        let check = HealthCheckConfig()
        #expect(HealthCheckConfig.intervalRange.contains(check.interval))
        #expect(HealthCheckConfig.timeoutRange.contains(check.timeout))
        #expect(HealthCheckConfig.thresholdRange.contains(check.failureThreshold))
        #expect(HealthCheckConfig.thresholdRange.contains(check.successThreshold))
    }

    @Test(arguments: [
        (ConfigDuration(hours: 1), "1h"), (ConfigDuration(minutes: 5), "5m"), (ConfigDuration(seconds: 90), "90s"),
        (ConfigDuration(milliseconds: 250), "250ms"), (ConfigDuration(seconds: 0), "0s"),
    ])
    func durationDescriptions(_ duration: ConfigDuration, _ text: String) {
        #expect(duration.description == text)
    }
}
