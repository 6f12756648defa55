import Foundation
import Yams

/// One registry file:
/// ```yaml
/// services:
///   AccountService:
///     - {address: 198.18.0.2, port: 8080, version: 1.0.0, tags: {zone: a}}
/// ```
enum RegistryFile {
    struct Content: Decodable {
        var services: [String: [Entry]]
    }

    struct Entry: Decodable {
        var address: String
        var port: Int
        var version: String?
        var app: String?
        var environment: String?
        var tags: [String: String]?
        var status: String?
    }

    /// The instances of a file, or an error that names the file, line and field.
    static func parse(_ text: String, source: String) throws(RegistryError) -> RegistrySnapshot {
        let content: Content
        do {
            guard let node = try Yams.compose(yaml: text) else { return RegistrySnapshot() }
            content = try YAMLDecoder().decode(Content.self, from: node)
        } catch let error as YamlError {
            throw RegistryError(source: source, message: "invalid YAML: \(error)")
        } catch let error as DecodingError {
            throw RegistryError(source: source, message: describe(error))
        } catch {
            throw RegistryError(source: source, message: "\(error)")
        }
        var instances: [ServiceInstance] = []
        for (service, entries) in content.services.sorted(by: { $0.key < $1.key }) {
            guard isServiceName(service) else {
                throw RegistryError(source: source, message: "services.\(service): not a valid service name")
            }
            for (index, entry) in entries.enumerated() {
                let field = "services.\(service)[\(index)]"
                guard isIPAddress(entry.address) else {
                    throw RegistryError(
                        source: source, message: "\(field).address: '\(entry.address)' is not an IP address")
                }
                guard (1...65535).contains(entry.port) else {
                    throw RegistryError(source: source, message: "\(field).port: must be 1-65535")
                }
                guard entry.status == nil || entry.status == "up" || entry.status == "down" else {
                    throw RegistryError(source: source, message: "\(field).status: must be up or down")
                }
                // An empty key (`{&a : b}`) decodes as a tag named "", which a rendered file cannot carry (Yams finds no "" key).
                guard entry.tags?.keys.contains("") != true else {
                    throw RegistryError(source: source, message: "\(field).tags: a tag name must not be empty")
                }
                instances.append(
                    ServiceInstance(
                        service: service, address: entry.address, port: entry.port, version: entry.version,
                        app: entry.app, environment: entry.environment, tags: entry.tags ?? [:],
                        isUp: entry.status != "down"))
            }
        }
        return RegistrySnapshot(instances, services: Array(content.services.keys))
    }

    /// One instance as a file of its own, as a provider's Mesher writes it.
    static func render(_ instance: ServiceInstance) -> String {
        var fields = ["address: \(quoted(instance.address))", "port: \(instance.port)"]
        if let version = instance.version { fields.append("version: \(quoted(version))") }
        if let app = instance.app { fields.append("app: \(quoted(app))") }
        if let environment = instance.environment { fields.append("environment: \(quoted(environment))") }
        if !instance.tags.isEmpty {
            let tags = instance.tags.sorted { $0.key < $1.key }.map { "\(key($0.key)): \(quoted($0.value))" }
            fields.append("tags: {\(tags.joined(separator: ", "))}")
        }
        fields.append("status: \(instance.isUp ? "up" : "down")")
        return
            "# written by mesher: removed when it deregisters\nservices:\n  \(instance.service):\n    - {\(fields.joined(separator: ", "))}\n"
    }

    /// A YAML double-quoted scalar that reads back as `text`. Line breaks would be folded into spaces and control
    /// characters refused, so everything but printable text is escaped.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: result += "\\\""
            case 0x5C: result += "\\\\"
            case 0x20...0x7E, 0xA0...0x2027, 0x202A...0xD7FF, 0xE000...0xFEFE, 0xFF00...0xFFFD, 0x10000...:
                result.unicodeScalars.append(scalar)
            case ...0xFF: result += "\\x" + hex(scalar.value, digits: 2)
            default: result += "\\u" + hex(scalar.value, digits: 4)
            }
        }
        return result + "\""
    }

    /// A mapping key that Yams finds again. It looks a key up as a plain scalar, tag included, so a key that reads
    /// as a number, a boolean or null when plain ("8", "yes", "~") is only found written plain (found by
    /// FuzzRegistryFile: a tag named "8" was rendered as "8" and not found again).
    static func key(_ text: String) -> String {
        Resolver.default.resolveTag(of: Node(text)) == .str ? quoted(text) : text
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: digits - text.count) + text
    }

    /// A DNS label: letters, digits and '-', so that it can be looked up as a host name.
    static func isServiceName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 63
            && name.unicodeScalars.allSatisfy {
                ("0"..."9").contains($0) || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || $0 == "-"
            }
            && !name.hasPrefix("-") && !name.hasSuffix("-")
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])): required field missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

public struct RegistryError: Error, CustomStringConvertible {
    public let source: String
    public let message: String
    public var description: String { "\(source): \(message)" }
}

func isIPAddress(_ text: String) -> Bool {
    var buffer = in6_addr()
    return inet_pton(AF_INET, text, &buffer) == 1 || inet_pton(AF_INET6, text, &buffer) == 1
}
