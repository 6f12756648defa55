import Foundation

// Hand-written `init(from:)`s: absent fields keep the defaults of `MesherConfig`, unknown fields are errors
// (a typo must not silently fall back to a default), and values are validated where they are read.

extension MesherConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case outbound, connection, drainTimeout, log, sniff, registry, routing, explicitProxy, dns, http, proxyMark,
            threads
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&outbound, .outbound)
        try c.decode(&connection, .connection)
        try c.decode(&drainTimeout, .drainTimeout)
        try c.decode(&log, .log)
        try c.decode(&sniff, .sniff)
        try c.decode(&registry, .registry)
        try c.decode(&routing, .routing)
        try c.decode(&explicitProxy, .explicitProxy)
        try c.decode(&dns, .dns)
        try c.decode(&http, .http)
        if let mark = try c.decodeIfPresent(String.self, forKey: .proxyMark) {
            let hex = mark.lowercased().hasPrefix("0x")
            guard let value = UInt32(hex ? String(mark.dropFirst(2)) : mark, radix: hex ? 16 : 10) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .proxyMark, in: c, debugDescription: "expected a mark like 0x539, got '\(mark)'")
            }
            proxyMark = value
        }
        if let threads = try c.decodeIfPresent(Int.self, forKey: .threads) {
            guard (1...256).contains(threads) else {
                throw DecodingError.dataCorruptedError(forKey: .threads, in: c, debugDescription: "must be 1-256")
            }
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
        guard port > 0 else {
            throw DecodingError.dataCorruptedError(forKey: .port, in: c, debugDescription: "must be 1-65535")
        }
        try c.decode(&addresses, .addresses)
        for address in addresses where !isIPAddress(address) {
            throw DecodingError.dataCorruptedError(
                forKey: .addresses, in: c, debugDescription: "'\(address)' is not an IP address")
        }
        guard !addresses.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .addresses, in: c, debugDescription: "must not be empty")
        }
    }
}

extension ConnectionConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case connectTimeout, idleTimeout, bufferLimit }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&connectTimeout, .connectTimeout)
        try c.decode(&idleTimeout, .idleTimeout)
        try c.decode(&bufferLimit, .bufferLimit)
        for (key, value) in [(CodingKeys.connectTimeout, connectTimeout), (.idleTimeout, idleTimeout)]
        where value.nanoseconds == 0 {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "must be above 0")
        }
        guard bufferLimit.bytes >= 4096 else {
            throw DecodingError.dataCorruptedError(
                forKey: .bufferLimit, in: c, debugDescription: "must be at least 4KiB")
        }
    }
}

extension LogConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case level, accessLog }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&level, .level)
        guard Self.levels.contains(level) else {
            throw DecodingError.dataCorruptedError(
                forKey: .level, in: c,
                debugDescription: "'\(level)' is not one of \(Self.levels.joined(separator: ", "))")
        }
        accessLog = try c.decodeIfPresent(String.self, forKey: .accessLog)
    }
}

extension SniffConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case window, opaquePorts }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&window, .window)
        try c.decode(&opaquePorts, .opaquePorts)
        guard !opaquePorts.contains(0) else {
            throw DecodingError.dataCorruptedError(forKey: .opaquePorts, in: c, debugDescription: "ports are 1-65535")
        }
    }
}

extension RegistryConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case kind, directory }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&kind, .kind)
        guard Self.kinds.contains(kind) else {
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: c, debugDescription: "'\(kind)' is not one of \(Self.kinds.joined(separator: ", "))")
        }
        try c.decode(&directory, .directory)
        guard !directory.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .directory, in: c, debugDescription: "must not be empty")
        }
    }
}

extension RoutingConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case searchSuffixes, virtualIPv6Prefix }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&searchSuffixes, .searchSuffixes)
        virtualIPv6Prefix = try c.decodeIfPresent(String.self, forKey: .virtualIPv6Prefix)
        if let prefix = virtualIPv6Prefix, Self.parseIPv6Prefix96(prefix) == nil {
            throw DecodingError.dataCorruptedError(
                forKey: .virtualIPv6Prefix, in: c, debugDescription: "'\(prefix)' is not an IPv6 /96 like fd00:1::/96")
        }
    }
}

extension ExplicitProxyConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case enabled, address, port }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&enabled, .enabled)
        try c.decode(&address, .address)
        guard isIPAddress(address) else {
            throw DecodingError.dataCorruptedError(
                forKey: .address, in: c, debugDescription: "'\(address)' is not an IP address")
        }
        try c.decode(&port, .port)
        guard port > 0 else {
            throw DecodingError.dataCorruptedError(forKey: .port, in: c, debugDescription: "must be 1-65535")
        }
    }
}

extension DNSConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case enabled, port, addresses, resolvConf, ttl }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&enabled, .enabled)
        try c.decode(&port, .port)
        guard port > 0 else {
            throw DecodingError.dataCorruptedError(forKey: .port, in: c, debugDescription: "must be 1-65535")
        }
        try c.decode(&addresses, .addresses)
        for address in addresses where !isIPAddress(address) {
            throw DecodingError.dataCorruptedError(
                forKey: .addresses, in: c, debugDescription: "'\(address)' is not an IP address")
        }
        try c.decode(&resolvConf, .resolvConf)
        try c.decode(&ttl, .ttl)
    }
}

extension HTTPConfig: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case maxHeaderBytes, forwardedFor }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.decode(&maxHeaderBytes, .maxHeaderBytes)
        guard (1024...(1 << 20)).contains(maxHeaderBytes.bytes) else {
            throw DecodingError.dataCorruptedError(
                forKey: .maxHeaderBytes, in: c, debugDescription: "must be 1KiB-1MiB")
        }
        try c.decode(&forwardedFor, .forwardedFor)
    }
}

/// A value written as text in its own notation ("5s", "64KiB").
protocol TextualConfigValue: Decodable {
    init?(parsing text: String)
    /// What a valid value looks like, for the error message.
    static var expected: String { get }
}

extension TextualConfigValue {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = (try? c.decode(String.self)) ?? ""
        guard let value = Self(parsing: text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected \(Self.expected), got '\(text)'")
        }
        self = value
    }
}

extension ConfigDuration: TextualConfigValue {
    static let expected = "a duration like 250ms, 5s, 2m or 1h"
}

extension ByteSize: TextualConfigValue {
    static let expected = "a size like 65536, 64KiB or 1MiB"
}

/// Any key, to see the keys a mapping really has.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// A keyed container that first rejects keys `Keys` does not know.
    func strictContainer<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws -> KeyedDecodingContainer<Keys> {
        let all = try container(keyedBy: AnyKey.self)
        let known = Keys.allCases.map(\.stringValue)
        for key in all.allKeys where !known.contains(key.stringValue) {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: all,
                debugDescription: "unknown field; expected one of \(known.joined(separator: ", "))")
        }
        return try container(keyedBy: Keys.self)
    }
}

extension KeyedDecodingContainer {
    /// Overwrites `value` only when the key is present.
    func decode<T: Decodable>(_ value: inout T, _ key: Key) throws {
        if let decoded = try decodeIfPresent(T.self, forKey: key) { value = decoded }
    }
}

func isIPAddress(_ text: String) -> Bool {
    var buffer = in6_addr()
    return inet_pton(AF_INET, text, &buffer) == 1 || inet_pton(AF_INET6, text, &buffer) == 1
}
