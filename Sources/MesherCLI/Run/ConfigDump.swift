import Config
import Foundation

/// `/config_dump`: the configuration in effect (defaults filled in, overrides applied), read field by field
/// from the config values themselves, so that a new field shows up without being listed here. Credentials
/// in URLs (`http://user:password@etcd:2379`) are redacted.
enum ConfigDump {
    indirect enum Value: Encodable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case array([Value])
        case object([String: Value])
        case null

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let text): try container.encode(text)
            case .number(let number): try container.encode(number)
            case .bool(let flag): try container.encode(flag)
            case .array(let values): try container.encode(values)
            case .object(let fields): try container.encode(fields)
            case .null: try container.encodeNil()
            }
        }
    }

    static func value(of config: MesherConfig) -> Value {
        value(of: config as Any)
    }

    static func value(of any: Any) -> Value {
        switch any {
        case let text as String: return .string(redacted(text))
        case let flag as Bool: return .bool(flag)
        case let number as any BinaryInteger: return .number(Double(number))
        case let number as Double: return .number(number)
        case let duration as ConfigDuration: return .string("\(duration)")
        case let size as ByteSize: return .string("\(size)")
        case let raw as any RawRepresentable: return value(of: raw.rawValue)
        default: break
        }
        let mirror = Mirror(reflecting: any)
        switch mirror.displayStyle {
        case .optional:
            return mirror.children.first.map { value(of: $0.value) } ?? .null
        case .collection:
            return .array(mirror.children.map { value(of: $0.value) })
        case .set:
            return .array(mirror.children.map { value(of: $0.value) }.sorted { "\($0)" < "\($1)" })
        case .enum:
            // A case with a payload ("prefix: /v2/"); one without is its name.
            guard let payload = mirror.children.first, let label = payload.label else { return .string("\(any)") }
            return .object([label: value(of: payload.value)])
        case .dictionary:
            var fields: [String: Value] = [:]
            for pair in mirror.children {
                let parts = Array(Mirror(reflecting: pair.value).children)
                if parts.count == 2 { fields["\(parts[0].value)"] = value(of: parts[1].value) }
            }
            return .object(fields)
        case .struct, .class, .tuple:
            var fields: [String: Value] = [:]
            for child in mirror.children {
                guard let label = child.label else { continue }
                fields[label.hasPrefix("_") ? String(label.dropFirst()) : label] = value(of: child.value)
            }
            return .object(fields)
        default:
            return .string("\(any)")
        }
    }

    /// `scheme://user:password@host` → `scheme://<redacted>@host`.
    static func redacted(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].firstIndex(of: "@") else {
            return text
        }
        let userinfo = text[scheme.upperBound..<at]
        guard !userinfo.contains("/") else { return text }
        return text.replacingCharacters(in: scheme.upperBound..<at, with: "<redacted>")
    }
}
