import MesherBase

/// `match: {path: {prefix: /v2/}, method: GET, headers: {x-canary: {exact: "1"}}, query: {debug: {present: true}}}`.
struct RequestMatchEntry: Decodable {
    var match = RequestMatch()

    enum CodingKeys: String, CodingKey, CaseIterable { case path, method, headers, query }
    enum PathKeys: String, CodingKey, CaseIterable { case exact, prefix, regex }

    init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        if c.contains(.path) { match.path = try Self.path(c.superDecoder(forKey: .path)) }
        if let method = try c.decodeIfPresent(String.self, forKey: .method) {
            try c.check(
                !method.isEmpty && method.utf8.allSatisfy(HeaderSyntax.isTokenByte), .method, "not a method name")
            match.method = method.uppercased()
        }
        match.headers = try Self.values(c, .headers, isName: HeaderSyntax.isFieldName)
        match.query = try Self.values(c, .query, isName: { !$0.isEmpty })
    }

    private static func path(_ decoder: any Decoder) throws -> PathMatch {
        let c = try decoder.strictContainer(PathKeys.self)
        try c.check(c.allKeys.count == 1, c.allKeys.last ?? .exact, "give one of exact, prefix or regex")
        if let exact = try c.decodeIfPresent(String.self, forKey: .exact) {
            try c.check(isPath(exact), .exact, "must be a path starting with /")
            return .exact(exact)
        }
        if let prefix = try c.decodeIfPresent(String.self, forKey: .prefix) {
            try c.check(isPath(prefix), .prefix, "must be a path starting with /")
            return .prefix(prefix)
        }
        let pattern = try c.decode(String.self, forKey: .regex)
        try checkRegex(pattern, c, .regex)
        return .regex(pattern)
    }

    /// `{name: {exact|regex: text} | {present: true} | {absent: true}}`, in the file's order.
    private static func values(
        _ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, isName: (String) -> Bool
    ) throws -> [(name: String, rule: ValueMatch)] {
        guard c.contains(key) else { return [] }
        let entries = try c.nestedContainer(keyedBy: AnyKey.self, forKey: key)
        return try entries.allKeys.map { name in
            try entries.check(isName(name.stringValue), name, "not a valid name")
            let rule = try entries.decode(ValueMatchEntry.self, forKey: name).rule
            return (key == .headers ? name.stringValue.lowercased() : name.stringValue, rule)
        }
    }

    static func isPath(_ text: String) -> Bool {
        text.hasPrefix("/") && text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "?") }
    }

    static func checkRegex<Key>(_ pattern: String, _ c: KeyedDecodingContainer<Key>, _ key: Key) throws {
        do {
            _ = try PosixRegex(pattern)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: error.description)
        }
    }
}

struct ValueMatchEntry: Decodable {
    var rule: ValueMatch

    enum CodingKeys: String, CodingKey, CaseIterable { case exact, regex, present, absent }

    init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        try c.check(c.allKeys.count == 1, c.allKeys.last ?? .exact, "give one of exact, regex, present or absent")
        if let exact = try c.decodeIfPresent(String.self, forKey: .exact) {
            rule = .exact(exact)
        } else if let pattern = try c.decodeIfPresent(String.self, forKey: .regex) {
            try RequestMatchEntry.checkRegex(pattern, c, .regex)
            rule = .regex(pattern)
        } else if c.contains(.present) {
            try c.check(try c.decode(Bool.self, forKey: .present), .present, "write present: true")
            rule = .present
        } else {
            try c.check(try c.decode(Bool.self, forKey: .absent), .absent, "write absent: true")
            rule = .absent
        }
    }
}

/// `{set: {name: value}, add: {name: value}, remove: [name]}`: never a field that frames the message or
/// that Mesher writes itself, so an edit cannot make the upstream read the request differently.
struct HeaderEditsEntry: Decodable {
    var edits = HeaderEdits()

    enum CodingKeys: String, CodingKey, CaseIterable { case set, add, remove }

    static let reserved: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te",
        "upgrade", "trailer", "expect", "x-mesher-hop", "x-forwarded-for", "traceparent", "tracestate", "b3",
    ]

    init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        edits.replace = try Self.fields(c, .set)
        edits.add = try Self.fields(c, .add)
        let names = try c.decodeIfPresent([String].self, forKey: .remove) ?? []
        for name in names { try Self.checkName(name, c, .remove) }
        edits.remove = names.map { $0.lowercased() }
    }

    private static func fields(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> [(
        name: String, value: String
    )] {
        guard c.contains(key) else { return [] }
        let entries = try c.nestedContainer(keyedBy: AnyKey.self, forKey: key)
        return try entries.allKeys.map { name in
            try checkName(name.stringValue, entries, name)
            let value = try entries.decode(String.self, forKey: name)
            try entries.check(HeaderSyntax.isFieldValue(value), name, "not a valid field value")
            return (name.stringValue.lowercased(), value)
        }
    }

    private static func checkName<Key>(_ name: String, _ c: KeyedDecodingContainer<Key>, _ key: Key) throws {
        try c.check(HeaderSyntax.isFieldName(name), key, "'\(name)' is not a valid field name")
        try c.check(
            !reserved.contains(name.lowercased()) && !name.lowercased().hasPrefix("x-b3-"), key,
            "'\(name)' is written by Mesher or frames the message; it cannot be edited")
    }
}

/// RFC 9110's token and field-value, for what a config puts into a request.
enum HeaderSyntax {
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    static func isFieldName(_ name: String) -> Bool { !name.isEmpty && name.utf8.allSatisfy(isTokenByte) }

    /// Visible ASCII, spaces and tabs inside; nothing that could end the line.
    static func isFieldValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == 0x09 || (0x20...0x7E).contains($0) } && value.first != " "
            && value.last != " "
    }
}
