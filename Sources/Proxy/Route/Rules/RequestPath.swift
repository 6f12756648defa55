import HTTP1

/// The path route rules see, and the one that goes upstream when a service has rules: normalized as RFC 3986
/// allows (unreserved characters decoded, hex upper-cased, dot segments removed) and with repeated slashes
/// merged, so that "/./admin", "//admin" or "/%61dmin" cannot slip past a rule on "/admin" to an app that
/// reads them as "/admin". Mesher forwards what it matched, never something the app could read otherwise.
///
/// Path parameters (";x" after a segment) are dropped by Tomcat, Spring and Jetty ("/admin;x" is their
/// "/admin"): rules see the path without them, and they go upstream as they came. A segment that is empty or a
/// dot segment once its parameters are gone ("/;/admin", "/..;/admin") is read as such, and loses them upstream
/// too, so that apps that keep parameters and apps that drop them read the segments Mesher matched.
enum RequestPath {
    /// The path and the query (without "?") of an origin- or absolute-form target; other forms have no path.
    static func split(_ head: HTTP1Head) -> (path: Substring, query: Substring?) {
        let target: Substring
        switch head.targetForm {
        case .origin: target = Substring(head.target)
        case .absolute(_, let path):
            let text = head.string(path)
            target = text.isEmpty || text.hasPrefix("?") ? Substring("/" + text) : Substring(text)
        case .authority, .asterisk: return ("", nil)
        }
        guard let mark = target.firstIndex(of: "?") else { return (target, nil) }
        return (target[..<mark], target[target.index(after: mark)...])
    }

    /// The path that goes upstream when a rule read it: normalized, path parameters kept.
    static func forwarded(_ path: Substring) -> String {
        guard path.hasPrefix("/"), needsNormalizing(path.utf8) else { return String(path) }
        return removingDotSegments(decodingUnreserved(Array(path.utf8)))
    }

    /// A `forwarded` path as rules see it: each segment's ";parameters" removed.
    static func withoutParameters(_ path: String) -> String {
        guard path.utf8.contains(UInt8(ascii: ";")) else { return path }
        return path.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.prefix { $0 != ";" } }.joined(separator: "/")
    }

    /// An escape, a repeated slash, a segment starting with a dot or a path parameter: the usual path has none
    /// (no copy made).
    private static func needsNormalizing(_ bytes: Substring.UTF8View) -> Bool {
        var previousSlash = false
        for byte in bytes {
            if byte == UInt8(ascii: "%") || byte == UInt8(ascii: ";")
                || (previousSlash && (byte == UInt8(ascii: "/") || byte == UInt8(ascii: ".")))
            {
                return true
            }
            previousSlash = byte == UInt8(ascii: "/")
        }
        return false
    }

    /// "%41" → "A" for unreserved characters only (decoding "/" or "?" would change what the path says);
    /// other escapes get upper-case hex, so that a rule sees one spelling.
    static func decodingUnreserved(_ bytes: [UInt8]) -> String {
        String(decoding: unescaped(bytes, decoding: isUnreserved), as: UTF8.self)
    }

    /// RFC 3986 §5.2.4, with empty segments merged; a trailing slash stays. A segment is read without its
    /// parameters, which stay on the others.
    static func removingDotSegments(_ path: String) -> String {
        let parts = path.utf8.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        var out: [Substring.UTF8View] = []
        let empty = path.utf8.dropFirst().prefix(0)
        for (index, part) in parts.enumerated() {
            let last = index == parts.count - 1
            let name = part.prefix { $0 != UInt8(ascii: ";") }
            if name.elementsEqual("..".utf8) {
                if !out.isEmpty { out.removeLast() }
            } else if !name.isEmpty && !name.elementsEqual(".".utf8) {
                out.append(part)
                continue
            }
            if last { out.append(empty) }
        }
        return "/" + out.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
    }

    /// `name=value&...`, both percent-decoded ("+" stays: it is a space only in forms).
    static func parameters(_ query: Substring?) -> [(name: String, value: String)] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (decoding(parts[0]), parts.count > 1 ? decoding(parts[1]) : "")
        }
    }

    private static func decoding(_ text: Substring) -> String {
        guard text.contains("%") else { return String(text) }
        return String(decoding: unescaped(Array(text.utf8), decoding: { _ in true }), as: UTF8.self)
    }

    /// Each well-formed escape whose byte `decoding` accepts, decoded; the others kept with upper-case hex.
    private static func unescaped(_ bytes: [UInt8], decoding: (UInt8) -> Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"), index + 2 < bytes.count, let high = HTTP1Syntax.hexValue(bytes[index + 1]),
                let low = HTTP1Syntax.hexValue(bytes[index + 2])
            {
                let decoded = UInt8(high << 4 | low)
                if decoding(decoded) {
                    out.append(decoded)
                } else {
                    out.append(contentsOf: [byte, upper(bytes[index + 1]), upper(bytes[index + 2])])
                }
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        return out
    }

    private static func upper(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f") ? byte - 0x20 : byte
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }
}
