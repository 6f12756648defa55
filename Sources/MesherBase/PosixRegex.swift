#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A POSIX extended regular expression, as libc compiles it. Not a backtracking engine: without back
/// references (refused here) matching takes time linear in the input times the pattern, so a hostile path or
/// header value cannot make a route rule spin an event loop (Swift's `Regex` backtracks). One per event loop:
/// glibc locks a compiled pattern while it matches.
public final class PosixRegex {
    private var compiled = regex_t()
    public let pattern: String
    /// "^/admin" and the like, a literal at the start: the same answer as the pattern, without libc (whose
    /// `regexec` allocates on every call).
    private let literalPrefix: [UInt8]?

    /// Why a pattern is refused, for the config error.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(_ pattern: String) throws(Invalid) {
        self.pattern = pattern
        let rest = pattern.utf8.dropFirst()
        literalPrefix =
            pattern.hasPrefix("^") && !rest.contains(where: { Self.metacharacters.contains($0) }) ? Array(rest) : nil
        if Self.hasBackReference(pattern) {
            throw Invalid(description: "back references (\\1-\\9) are not supported")
        }
        let status = regcomp(&compiled, pattern, REG_EXTENDED | REG_NOSUB)
        guard status == 0 else {
            var message = [CChar](repeating: 0, count: 128)
            regerror(status, &compiled, &message, message.count)
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw Invalid(description: "invalid regular expression: \(text)")
        }
    }

    deinit { regfree(&compiled) }

    /// Whether the pattern matches somewhere in `text` (anchors make it whole).
    public func matches(_ text: String) -> Bool {
        if let literalPrefix { return text.utf8.starts(with: literalPrefix) }
        var text = text
        return text.withUTF8 { bytes in
            guard let start = bytes.baseAddress, !bytes.isEmpty else { return regexec(&compiled, "", 0, nil, 0) == 0 }
            // REG_STARTEND: the text's own length, no NUL needed (and none inside can cut it short).
            var range = regmatch_t(rm_so: 0, rm_eo: regoff_t(bytes.count))
            return start.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                regexec(&compiled, $0, 1, &range, REG_STARTEND) == 0
            }
        }
    }

    private static let metacharacters = Set(#".[]()*+?{}|\^$"#.utf8)

    private static func hasBackReference(_ pattern: String) -> Bool {
        var escaped = false
        for character in pattern {
            if escaped, character.isNumber { return true }
            escaped = !escaped && character == "\\"
        }
        return false
    }
}
