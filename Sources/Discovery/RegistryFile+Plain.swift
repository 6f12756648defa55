import Yams

/// The usual registry file, read straight off its YAML nodes: a `services` mapping of lists of flat instance
/// mappings, plain values, the fields Mesher knows (aliases come dereferenced). Yams's Codable path takes five times as long per file,
/// which every changed file pays. Anything else (another field, a tag, an alias, a number written another
/// way, a value `instance(of:)` refuses) is nil here and goes the Codable way, which also says where a file
/// is wrong; the fuzzer checks that both read every file alike.
extension RegistryFile {
    static func plainContent(_ root: Node) -> Content? {
        guard case .mapping(let top) = root, top.count == 1, let services = top["services"]?.mapping,
            isPlainKey(top.first!.key), services.allSatisfy({ isPlainKey($0.key) })
        else { return nil }
        var content = Content()
        var named: [(String, [InstanceRecord])] = []
        for (key, value) in services {
            guard case .sequence(let entries) = value, let service = key.scalar?.string, isServiceName(service)
            else { return nil }
            var records: [InstanceRecord] = []
            for entry in entries {
                guard let record = record(entry) else { return nil }
                records.append(record)
            }
            named.append((service, records))
            content.services.append(service)
        }
        for (service, records) in named.sorted(by: { $0.0 < $1.0 }) {
            for record in records {
                guard let instance = try? record.instance(of: service) else { return nil }
                content.listings.append(Listing(instance: instance, heartbeat: record.heartbeat, ttl: record.ttl))
            }
        }
        return content
    }

    private static func record(_ node: Node) -> InstanceRecord? {
        guard case .mapping(let fields) = node, fields.allSatisfy({ isPlainKey($0.key) }) else { return nil }
        var record = InstanceRecord(address: "", port: 0)
        var seen = (address: false, port: false)
        for (key, value) in fields {
            let field = key.scalar!.string
            if field == "tags" {
                guard case .mapping(let tags) = value, tags.allSatisfy({ isPlainKey($0.key) }) else { return nil }
                var values: [String: String] = [:]
                for (name, text) in tags {
                    guard let text = string(text) else { return nil }
                    values[name.scalar!.string] = text
                }
                record.tags = values
                continue
            }
            guard let text = string(value) else { return nil }
            // An optional field written as a plain null is absent, as the Codable path reads it.
            let absent = value.scalar!.style == .plain && ["", "~", "null", "Null", "NULL"].contains(text)
            switch field {
            case "address": (record.address, seen.address) = (text, true)
            case "port":
                guard let port = whole(value) else { return nil }
                (record.port, seen.port) = (port, true)
            case "service": record.service = absent ? nil : text
            case "version": record.version = absent ? nil : text
            case "app": record.app = absent ? nil : text
            case "environment": record.environment = absent ? nil : text
            case "protocol": record.protocol = absent ? nil : text
            case "status": record.status = absent ? nil : text
            case "heartbeat", "ttl":
                guard absent || decimal(value) != nil else { return nil }
                if field == "ttl" {
                    record.ttl = absent ? nil : decimal(value)
                } else {
                    record.heartbeat = absent ? nil : decimal(value)
                }
            default: return nil
            }
        }
        return seen.address && seen.port ? record : nil
    }

    /// A key written plainly: looked up by Yams as written.
    private static func isPlainKey(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        return scalar.style == .plain && isText(scalar.tag)
    }

    /// No tag, or `!!str`: text (what the basic resolver makes of every untagged scalar).
    private static func isText(_ tag: Tag) -> Bool {
        ["", "!", Tag.Name.str.rawValue].contains(tag.description)
    }

    /// A scalar's text, when it is untagged (quoted or not).
    private static func string(_ node: Node) -> String? {
        guard case .scalar(let scalar) = node, isText(scalar.tag),
            scalar.style == .plain || scalar.style == .singleQuoted || scalar.style == .doubleQuoted
        else { return nil }
        return scalar.string
    }

    /// Digits only, plain, at most 9 of them and no leading zero (Yams reads `0040` as octal, 32: found by
    /// FuzzRegistryFile); other spellings go the Codable way.
    private static func whole(_ node: Node) -> Int? {
        guard let scalar = node.scalar, scalar.style == .plain, scalar.tag.description.isEmpty,
            isDecimal(scalar.string.utf8[...], maxDigits: 9)
        else { return nil }
        return Int(scalar.string)
    }

    private static func isDecimal(_ digits: Substring.UTF8View, maxDigits: Int) -> Bool {
        (1...maxDigits).contains(digits.count) && digits.allSatisfy { (0x30...0x39).contains($0) }
            && (digits.count == 1 || digits.first != 0x30)
    }

    /// Digits with an optional fraction, plain; nil for anything else.
    private static func decimal(_ node: Node) -> Double? {
        guard let scalar = node.scalar, scalar.style == .plain, scalar.tag.description.isEmpty else { return nil }
        let parts = scalar.string.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), isDecimal(parts[0].utf8, maxDigits: 17),
            parts.count == 1
                || (1...17).contains(parts[1].utf8.count) && parts[1].utf8.allSatisfy({ (0x30...0x39).contains($0) })
        else { return nil }
        return Double(scalar.string)
    }
}

extension InstanceRecord {
    init(address: String, port: Int) {
        (service, version, app, environment, tags, self.protocol, status, heartbeat, ttl) =
            (nil, nil, nil, nil, nil, nil, nil, nil, nil)
        self.address = address
        self.port = port
    }
}
