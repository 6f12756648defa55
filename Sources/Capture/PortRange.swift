import Foundation

/// A TCP/UDP port or an inclusive range of ports ("8080", "8000-8010").
public struct PortRange: Hashable, Sendable, CustomStringConvertible {
    public let lower: UInt16
    public let upper: UInt16

    public init(_ port: UInt16) {
        lower = port
        upper = port
    }

    public init(parsing text: String) throws(CaptureInputError) {
        let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(bounds.count),
            let low = bounds.first.flatMap({ Self.port($0) }),
            let high = bounds.count == 2 ? Self.port(bounds[1]) : low
        else {
            throw .invalid(text, "expected a port 1-65535 or a range LOW-HIGH")
        }
        guard low <= high else { throw .invalid(text, "range start is above its end") }
        lower = low
        upper = high
    }

    /// iptables multiport syntax.
    public var description: String { lower == upper ? "\(lower)" : "\(lower):\(upper)" }

    private static func port(_ text: Substring) -> UInt16? {
        guard let value = UInt16(text), value > 0 else { return nil }
        return value
    }
}

/// Which ports a rule applies to: every port, none, or a list.
public enum PortSelection: Hashable, Sendable {
    case all
    case some([PortRange])

    public static let none = PortSelection.some([])

    /// "*" means all ports, "" none, otherwise a comma-separated list of ports and ranges.
    public init(parsing text: String) throws(CaptureInputError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "*" {
            self = .all
        } else {
            self = .some(try PortRange.list(parsing: trimmed))
        }
    }
}

extension PortRange {
    /// Parses a comma-separated list; the empty string is the empty list.
    public static func list(parsing text: String) throws(CaptureInputError) -> [PortRange] {
        try commaSeparated(text) { text throws(CaptureInputError) in try PortRange(parsing: text) }
    }
}

extension CIDR {
    /// Parses a comma-separated list; the empty string is the empty list.
    public static func list(parsing text: String) throws(CaptureInputError) -> [CIDR] {
        try commaSeparated(text) { text throws(CaptureInputError) in try CIDR(parsing: text) }
    }
}

/// Items of a comma-separated list, blanks skipped.
private func commaSeparated<Item>(
    _ text: String, _ parse: (String) throws(CaptureInputError) -> Item
) throws(CaptureInputError) -> [Item] {
    var result: [Item] = []
    for item in text.split(separator: ",") {
        let trimmed = item.trimmingCharacters(in: .whitespaces)
        if !trimmed.isEmpty { result.append(try parse(trimmed)) }
    }
    return result
}
