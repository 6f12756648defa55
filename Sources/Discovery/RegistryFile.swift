import Foundation
import Yams

/// One registry file:
/// ```yaml
/// services:
///   AccountService:
///     - {address: 198.18.0.2, port: 8080, version: 1.0.0, tags: {zone: a}}
///     - {address: 198.18.0.3, port: 8080, status: up, heartbeat: 1795650712.630, ttl: 10}
/// ```
/// An entry with a heartbeat (written by a provider's Mesher) is gone once the heartbeat is older than its
/// ttl; an entry without one (written by hand) never expires.
enum RegistryFile {
    /// Larger files are refused: a file holds a few instances, and every changed file is read at each scan.
    static let maxSize = 1 << 20

    /// One for every read: making one reads the whole environment (Yams's default encoding), a tenth of a
    /// file's read. Never changed after this; a decode keeps no state in it.
    nonisolated(unsafe) private static let decoder = YAMLDecoder()

    private struct Document: Decodable {
        var services: [String: [InstanceRecord]]
    }

    /// An instance as a file lists it, with the heartbeat of the Mesher that wrote it, if any.
    struct Listing: Equatable, Sendable {
        var instance: ServiceInstance
        /// Unix seconds of the writer's last refresh.
        var heartbeat: Double?
        /// Seconds after the heartbeat that the instance counts as gone: the writer's, so readers need no setting.
        var ttl: Double?

        /// `readAt` (when the reader last read this content) caps a heartbeat from the future, so that the
        /// entry of a dead writer whose clock runs ahead still expires one ttl after it stops changing.
        func isExpired(at now: Double, readAt: Double) -> Bool {
            guard let heartbeat, let ttl else { return false }
            return now - min(heartbeat, readAt) > ttl
        }
    }

    struct Content: Equatable, Sendable {
        var listings: [Listing] = []
        /// Every service the file names, also one without instances (known: requests get a 503).
        var services: [String] = []

        /// Everything listed, expired or not.
        var snapshot: RegistrySnapshot { RegistrySnapshot(listings.map(\.instance), services: services) }
    }

    /// A file's bytes: UTF-8 text, else an error naming the file.
    static func parse(_ bytes: [UInt8], source: String) throws(RegistryError) -> Content {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw RegistryError(source: source, message: "not UTF-8 text")
        }
        return try parse(text, source: source)
    }

    /// The instances of a file, or an error with the file, line, column and field, and never the file's own
    /// text: the directory may be shared with other writers, and what they wrote is not for the log.
    static func parse(_ text: String, source: String) throws(RegistryError) -> Content {
        guard let root = try compose(text, source: source) else { return Content() }
        if let content = plainContent(root) { return content }
        return try decodedContent(root, source: source)
    }

    /// The file's YAML nodes; nil for an empty file.
    static func compose(_ text: String, source: String) throws(RegistryError) -> Node? {
        do {
            // No implicit tags: resolving each scalar's (int, float, bool, timestamp...) takes ICU regular
            // expressions, two thirds of a file's read; the decoder reads numbers, booleans and nulls from
            // their text anyway. The encoding named: Yams's default reads the whole environment each time.
            return try Yams.compose(yaml: text, .basic, .default, .utf8)
        } catch let error as YamlError {
            throw RegistryError(source: source, yaml: error)
        } catch {
            throw RegistryError(source: source, message: "invalid YAML")
        }
    }

    /// The Codable way, for every file: what it holds, or where it is wrong.
    static func decodedContent(_ root: Node, source: String) throws(RegistryError) -> Content {
        let document: Document
        do {
            document = try decoder.decode(Document.self, from: root)
        } catch let error as DecodingError {
            throw RegistryError(source: source, decoding: error, root: root)
        } catch {
            throw RegistryError(source: source, message: "cannot be decoded")
        }
        var content = Content(services: Array(document.services.keys))
        for (service, records) in document.services.sorted(by: { $0.key < $1.key }) {
            func fail(_ path: [PathElement], _ message: String) -> RegistryError {
                let mark = root.mark(at: [.key("services"), .key(service)] + path)
                let field = "services.\(service)" + path.map(\.text).joined()
                return RegistryError(
                    source: source, line: mark?.line, column: mark?.column, message: "\(field): \(message)")
            }
            guard isServiceName(service) else {
                let mark = root.mark(at: [.key("services"), .key(service)])
                throw RegistryError(
                    source: source, line: mark?.line, column: mark?.column,
                    message: "services: not a valid service name (letters, digits and '-')")
            }
            for (index, record) in records.enumerated() {
                do {
                    let instance = try record.instance(of: service)
                    content.listings.append(Listing(instance: instance, heartbeat: record.heartbeat, ttl: record.ttl))
                } catch {
                    throw fail([.index(index)] + (error.field.map { [.key($0)] } ?? []), error.message)
                }
            }
        }
        return content
    }

    /// One instance as a file of its own, as a provider's Mesher writes it (and rewrites it every ttl/3). Written
    /// by hand, field by field of its `InstanceRecord`, for quoting that every value survives (see `quoted`).
    static func render(_ instance: ServiceInstance, heartbeat: Double, ttl: Double) -> String {
        let record = InstanceRecord(instance, heartbeat: heartbeat, ttl: ttl)
        var fields = ["address: \(quoted(record.address))", "port: \(record.port)"]
        if let version = record.version { fields.append("version: \(quoted(version))") }
        if let app = record.app { fields.append("app: \(quoted(app))") }
        if let environment = record.environment { fields.append("environment: \(quoted(environment))") }
        if let tags = record.tags {
            let tags = tags.sorted { $0.key < $1.key }.map { "\(key($0.key)): \(quoted($0.value))" }
            fields.append("tags: {\(tags.joined(separator: ", "))}")
        }
        if let spoken = record.protocol { fields.append("protocol: \(spoken)") }
        if let status = record.status { fields.append("status: \(status)") }
        fields.append("heartbeat: \(String(format: "%.3f", heartbeat))")
        fields.append("ttl: \(ttl == ttl.rounded() ? String(Int(ttl)) : String(format: "%.3f", ttl))")
        return "# written by mesher: refreshed every ttl/3, removed when it deregisters\nservices:\n  "
            + "\(instance.service):\n    - {\(fields.joined(separator: ", "))}\n"
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
    /// A key whose written form runs past YAML's 1,024-character limit on implicit keys is written explicit
    /// (`? key`), else the file does not parse (found by FuzzRegistryFile: a tag name of many line breaks, each
    /// escaped in four characters).
    static func key(_ text: String) -> String {
        let written = Resolver.default.resolveTag(of: Node(text)) == .str ? quoted(text) : text
        return written.utf8.count > 1000 ? "? " + written : written
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
}
