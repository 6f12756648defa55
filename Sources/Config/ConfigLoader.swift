import Foundation
import Yams

/// A config file that cannot be used: where (file and line) and which field.
public struct ConfigError: Error, CustomStringConvertible {
    public let source: String
    public let line: Int?
    public let field: String?
    public let message: String

    public init(source: String, line: Int?, field: String?, message: String) {
        self.source = source
        self.line = line
        self.field = field
        self.message = message
    }

    public var description: String {
        let location = line.map { "\(source):\($0)" } ?? source
        return [location, field, message].compactMap { $0 }.joined(separator: ": ")
    }
}

extension MesherConfig {
    public static func load(path: String) throws(ConfigError) -> MesherConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(
                source: path, line: nil, field: nil, message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(text, source: path)
    }

    public static func parse(_ text: String, source: String = "mesher.yaml") throws(ConfigError) -> MesherConfig {
        let root: Node
        do {
            // A document with nothing in it ("---", "~") is an empty file too.
            guard let node = try Yams.compose(yaml: text), node.null == nil else { return MesherConfig() }
            root = node
        } catch let error as YamlError {
            throw ConfigError(
                source: source, line: error.line.map(text.clampedLine), field: nil, message: error.problem)
        } catch {
            throw ConfigError(source: source, line: nil, field: nil, message: "\(error)")
        }
        do {
            return try YAMLDecoder().decode(MesherConfig.self, from: root)
        } catch let error as DecodingError {
            let (path, message) = error.pathAndMessage
            let field =
                path.isEmpty ? nil : path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            throw ConfigError(
                source: source, line: root.line(at: path).map(text.clampedLine), field: field, message: message)
        } catch {
            throw ConfigError(source: source, line: nil, field: nil, message: "\(error)")
        }
    }
}

extension DecodingError {
    var pathAndMessage: ([any CodingKey], String) {
        switch self {
        case .typeMismatch(let type, let context):
            (context.codingPath, "expected \(Self.describe(type))")
        case .valueNotFound(let type, let context):
            (context.codingPath, "expected \(Self.describe(type)), found nothing")
        case .keyNotFound(let key, let context):
            (context.codingPath + [key], "required field missing")
        case .dataCorrupted(let context):
            (context.codingPath, context.debugDescription)
        @unknown default:
            ([], "\(self)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is any BinaryInteger.Type: "a whole number"
        case is [String].Type: "a list of strings"
        default: "a mapping or value of type \(type)"
        }
    }
}

extension YamlError {
    var line: Int? {
        switch self {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        case .duplicatedKeysInMapping(_, let context): context.mark.line
        default: nil
        }
    }

    var problem: String {
        switch self {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _):
            "invalid YAML: \(problem)"
        default: "invalid YAML: \(self)"
        }
    }
}

extension Node {
    /// The line of the deepest node of `path` that exists (a key's own line for mapping entries).
    func line(at path: [any CodingKey]) -> Int? {
        var node = self
        var line = mark?.line
        for key in path {
            if let index = key.intValue, let sequence = node.sequence, index < sequence.count {
                node = sequence[index]
                line = node.mark?.line ?? line
            } else if let mapping = node.mapping, let entry = mapping.first(where: { $0.key.string == key.stringValue })
            {
                node = entry.value
                line = entry.key.mark?.line ?? line
            } else {
                break
            }
        }
        return line
    }
}

extension String {
    /// At the end of the input libyaml moves to the next line, which a file without a final line break does not
    /// have: such an error names the last line instead (found by FuzzConfig).
    func clampedLine(_ line: Int) -> Int {
        min(line, lastLineNumber)
    }

    /// The number of the last line with a character on it (1 for an empty text), counting line breaks as YAML
    /// does: LF, CR, CRLF, NEL, LS and PS.
    var lastLineNumber: Int {
        var breaks = 0
        var previous: Unicode.Scalar?
        for scalar in unicodeScalars {
            switch scalar {
            case "\n" where previous == "\r": break  // CRLF is one break
            case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}": breaks += 1
            default: break
            }
            previous = scalar
        }
        let endsWithBreak = previous.map { ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"].contains($0) } ?? false
        return max(1, endsWithBreak ? breaks : breaks + 1)
    }
}
