#if canImport(Glibc)
    import Glibc
#endif

/// Socket marks (SO_MARK): how a proxy running as root keeps its own connections out of the capture rules.
public enum SocketMark {
    /// The socket option (SOL_SOCKET level), absent from NIO's option list:
    /// `.socketOption(.init(rawValue: SocketMark.option))`.
    public static let option: Int32 = SO_MARK

    /// "0x539" (hexadecimal) or "1337" (decimal), spaces around allowed; nil for anything else. Callers refuse 0,
    /// each with its own message: every unmarked socket has mark 0.
    public static func parse(_ text: String) -> UInt32? {
        var body = Substring(text)
        while body.first?.isWhitespace == true { body.removeFirst() }
        while body.last?.isWhitespace == true { body.removeLast() }
        let isHex = body.hasPrefix("0x") || body.hasPrefix("0X")
        if isHex { body = body.dropFirst(2) }
        // Digits only: UInt32(_:radix:) would also take a sign.
        guard !body.isEmpty, body.allSatisfy({ $0.isASCII && (isHex ? $0.isHexDigit : $0.isNumber) }),
            let value = UInt32(body, radix: isHex ? 16 : 10)
        else { return nil }
        return value
    }

    /// As iptables and `parse` write it: "0x539".
    public static func text(_ mark: UInt32) -> String {
        "0x" + String(mark, radix: 16)
    }
}
