import Yams

/// A registry file that cannot be used: the file, where in it, and the problem; never the file's text
/// (Yams' own descriptions quote the offending lines).
public struct RegistryError: Error, CustomStringConvertible, Equatable {
    public let source: String
    public let line: Int?
    public let column: Int?
    public let message: String

    public init(source: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.source = source
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        ([source] + [line, column].compactMap { $0 }.map(String.init) + [" " + message]).joined(separator: ":")
    }

    init(source: String, yaml error: YamlError) {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            // libyaml's problem and context are fixed phrases ("found unexpected end of stream").
            let context = context.map { " (\($0.text))" } ?? ""
            self.init(
                source: source, line: mark.line, column: mark.column, message: "invalid YAML: \(problem)\(context)")
        case .reader(let problem, _, _, _):
            self.init(source: source, message: "invalid YAML: \(problem)")
        case .duplicatedKeysInMapping(_, let context):
            self.init(
                source: source, line: context.mark.line, column: context.mark.column,
                message: "invalid YAML: duplicated key")
        default:
            self.init(source: source, message: "invalid YAML")
        }
    }

    /// Field names are the decoder's; a key that is not a plain name (a service key can be anything) is shown as `?`.
    init(source: String, decoding error: DecodingError, root: Node) {
        let (path, problem): ([any CodingKey], String)
        switch error {
        case .keyNotFound(let key, let context):
            (path, problem) = (context.codingPath + [key], "required field missing")
        case .typeMismatch(let type, let context):
            (path, problem) = (context.codingPath, "expected \(Self.describe(type))")
        case .valueNotFound(_, let context): (path, problem) = (context.codingPath, "value missing")
        case .dataCorrupted(let context): (path, problem) = (context.codingPath, "invalid value")
        @unknown default: (path, problem) = ([], "cannot be decoded")
        }
        let elements = path.map { key in key.intValue.map(PathElement.index) ?? .key(key.stringValue) }
        // The position of the deepest part of the path that exists (a missing field: its mapping).
        let mark = (0...elements.count).reversed().lazy.compactMap { root.mark(at: Array(elements.prefix($0))) }.first
        let field = elements.map(\.safeText).joined().drop { $0 == "." }
        self.init(
            source: source, line: mark?.line, column: mark?.column,
            message: field.isEmpty ? problem : "\(field): \(problem)")
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "a whole number"
        case is Double.Type: "a number"
        case is Node.Mapping.Type: "a mapping"
        case is Node.Sequence.Type: "a list"
        default: "a single value"
        }
    }
}

/// A step into a YAML document: a mapping key or a sequence index.
enum PathElement {
    case key(String)
    case index(Int)

    var text: String {
        switch self {
        case .key(let key): ".\(key)"
        case .index(let index): "[\(index)]"
        }
    }

    /// As `text`, with a key that is not a plain name replaced: it came from the file.
    var safeText: String {
        guard case .key(let key) = self else { return text }
        let plain =
            !key.isEmpty && key.count <= 63
            && key.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
            }
        return plain ? text : ".?"
    }
}

extension Node {
    /// Where the node at `path` is (a mapping entry's key, for a key), or nil when the path does not exist.
    func mark(at path: [PathElement]) -> Mark? {
        var node = self
        var mark = self.mark
        for element in path {
            switch element {
            case .index(let index):
                guard let sequence = node.sequence, index < sequence.count else { return nil }
                node = sequence[index]
                mark = node.mark
            case .key(let key):
                guard let entry = node.mapping?.first(where: { $0.key.string == key }) else { return nil }
                node = entry.value
                mark = entry.key.mark
            }
        }
        return mark
    }
}
