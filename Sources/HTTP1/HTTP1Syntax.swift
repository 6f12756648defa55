/// Byte classes of RFC 9110/9112, as lookup tables: the parser runs them on every byte of every head.
package enum HTTP1Syntax {
    /// tchar: the characters of a token (method, field name, Connection option).
    package static let token: [Bool] = table { byte in
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"):
            true
        default: Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    /// A field value's bytes: VCHAR, obs-text, SP and HTAB. No CTL, so never CR, LF or NUL.
    package static let fieldValue: [Bool] = table { $0 == 0x09 || $0 == 0x20 || ($0 >= 0x21 && $0 != 0x7F) }

    /// A request target's bytes: VCHAR only (no space, no CTL, no obs-text), and no "#": no target form has a
    /// fragment (RFC 9112 §3.2), and an app that drops one ("/admin#x" is "/admin" to WHATWG URL readers) would
    /// read another path than route rules matched.
    static let target: [Bool] = table { $0 >= 0x21 && $0 <= 0x7E && $0 != UInt8(ascii: "#") }

    /// The host part of an authority (reg-name, IPv4, bracketed IPv6): unreserved, pct-encoded, sub-delims.
    static let hostName: [Bool] = table { byte in
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"):
            true
        default: Array("-._~%!$&'()*+,;=".utf8).contains(byte)
        }
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// A hex digit's value, either case (percent-encoding and chunk sizes allow both).
    package static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    static func equals(_ bytes: UnsafeRawBufferPointer.SubSequence, _ text: StaticString) -> Bool {
        bytes.elementsEqual(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    static func lowercase(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// ASCII case-insensitive equality of `bytes` with a lowercase `name`.
    static func equalsLowercase(_ bytes: UnsafeRawBufferPointer.SubSequence, _ name: StaticString) -> Bool {
        guard bytes.count == name.utf8CodeUnitCount else { return false }
        let expected = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        var index = bytes.startIndex
        for byte in expected {
            let actual = bytes[index]
            if actual != byte && (actual | 0x20 != byte || byte < UInt8(ascii: "a") || byte > UInt8(ascii: "z")) {
                return false
            }
            index += 1
        }
        return true
    }

    /// `authority = host [":" port]`, host a reg-name, IPv4 address or `[IPv6]`; no userinfo. Empty is allowed
    /// (RFC 9112 §3.2: a target without authority is sent with an empty Host).
    static func isAuthority(_ bytes: UnsafeRawBufferPointer.SubSequence) -> Bool {
        var host = bytes
        if let colon = bytes.lastIndex(of: UInt8(ascii: ":")), bytes.last != UInt8(ascii: "]") {
            let port = bytes[(colon + 1)...]
            guard port.count <= 5, port.allSatisfy(isDigit) else { return false }
            host = bytes[..<colon]
        }
        if host.first == UInt8(ascii: "[") {
            guard host.count > 2, host.last == UInt8(ascii: "]") else { return false }
            return host.dropFirst().dropLast().allSatisfy {
                hexValue($0) != nil || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".")
            }
        }
        return host.allSatisfy { hostName[Int($0)] }
    }

    private static func table(_ member: (UInt8) -> Bool) -> [Bool] {
        (0...255).map { member(UInt8($0)) }
    }
}
