/// A domain name as its wire labels. Labels are raw bytes so a question is echoed back exactly as asked
/// (some resolvers randomise letter case, "DNS 0x20", and check it in the reply).
struct DNSName: Sendable, Hashable, CustomStringConvertible {
    static let maxLabelLength = 63
    /// Wire length including every length byte and the final zero (RFC 1035 section 2.3.4).
    static let maxWireLength = 255

    let labels: [[UInt8]]

    /// Labels that already passed the length limits (the decoder checks them while reading).
    init(validatedLabels labels: [[UInt8]]) {
        self.labels = labels
    }

    /// Parses a dotted name; a trailing dot is optional. Throws if a label is empty or a limit is exceeded.
    init(_ text: String) throws {
        let trimmed = text.hasSuffix(".") ? String(text.dropLast()) : text
        let labels =
            trimmed.isEmpty
            ? [] : trimmed.split(separator: ".", omittingEmptySubsequences: false).map { Array($0.utf8) }
        for label in labels {
            if label.isEmpty { throw DNSMessageError.emptyLabel }
            if label.count > Self.maxLabelLength { throw DNSMessageError.labelTooLong }
        }
        self.init(validatedLabels: labels)
        if wireLength > Self.maxWireLength { throw DNSMessageError.nameTooLong }
    }

    var wireLength: Int {
        labels.reduce(1) { $0 + 1 + $1.count }
    }

    /// Dotted, without the trailing dot; the root name is "".
    var description: String {
        labels.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ".")
    }

    /// The form `lookup` receives: DNS names compare case-insensitively.
    var lowercased: String {
        description.lowercased()
    }
}
