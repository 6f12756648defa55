import Foundation

/// `--admin HOST:PORT` (`mesher await`, `mesher status`), as a URL prefix; `[v6]` brackets added or kept.
struct AdminAddress {
    let url: String

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        let host = text[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard !host.isEmpty else { return nil }
        url = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }
}
