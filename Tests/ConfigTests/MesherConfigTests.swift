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
        #expect(config.log.level == "info" && config.log.accessLog == nil)
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
        #expect(config.log.level == "debug" && config.log.accessLog == "/var/log/mesher/access.log")
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
        ("connection:\n  idleTimeout: 0s\n", 2, "connection.idleTimeout", "must be above 0"),
        ("connection:\n  bufferLimit: 12 apples\n", 2, "connection.bufferLimit", "expected a size"),
        ("\n\noutbound:\n  port: 70000\n", 4, "outbound.port", "expected"),
        ("outbound:\n  port: 0\n", 2, "outbound.port", "1-65535"),
        ("outbound:\n  addresses: [localhost]\n", 2, "outbound.addresses", "not an IP address"),
        ("threads: 0\n", 1, "threads", "1-256"),
        ("routing:\n  virtualIPv6Prefix: 2001:db8::/64\n", 2, "routing.virtualIPv6Prefix", "IPv6 /96"),
        ("registry:\n  kind: zookeeper\n", 2, "registry.kind", "not one of"),
        ("registry:\n  kind: etcd\n  endpoints: [127.0.0.1:2379]\n", 3, "registry.endpoints", "not a URL"),
        ("registry:\n  leaseTTL: 1s\n", 2, "registry.leaseTTL", "at least 3s"),
        ("service:\n  name: A\n  ports: []\n", 3, "service.ports", "at least one port"),
        ("service:\n  ports: [80]\n", 1, "service.name", "required field missing"),
        ("http:\n  maxHeaderBytes: 10\n", 2, "http.maxHeaderBytes", "1KiB-1MiB"),
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

    @Test func ipv6PrefixBytes() throws {
        let config = try MesherConfig.parse("routing:\n  virtualIPv6Prefix: 2001:db8:ffff::/96\n")
        #expect(config.routing.virtualIPv6PrefixBytes == [0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0])
        #expect(MesherConfig().routing.virtualIPv6PrefixBytes == nil)
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
