import Foundation
import MesherBase

/// An IPv4 or IPv6 network in prefix notation, validated and normalised ("10.1.2.3/8" -> "10.0.0.0/8").
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public enum Family: Sendable { case ipv4, ipv6 }

    public let family: Family
    /// Network address bytes (4 or 16), host bits cleared.
    public let address: [UInt8]
    public let prefixLength: Int

    public init(parsing text: String) throws(CaptureInputError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let host = parts.first, !host.isEmpty else {
            throw .invalid(text, "expected an address or ADDRESS/PREFIX")
        }
        var bytes: [UInt8]
        if let v4 = IPAddressText.ipv4(String(host)) {
            family = .ipv4
            bytes = v4
        } else if let v6 = IPAddressText.ipv6(String(host)) {
            family = .ipv6
            bytes = v6
        } else {
            throw .invalid(text, "'\(host)' is not an IPv4 or IPv6 address")
        }
        let maxPrefix = bytes.count * 8
        if parts.count == 2 {
            guard let prefix = Int(parts[1]), (0...maxPrefix).contains(prefix) else {
                throw .invalid(text, "prefix length must be 0-\(maxPrefix)")
            }
            prefixLength = prefix
        } else {
            prefixLength = maxPrefix
        }
        for i in bytes.indices {
            let bitsKept = max(0, min(8, prefixLength - i * 8))
            bytes[i] &= bitsKept == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bitsKept))
        }
        address = bytes
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let af = family == .ipv4 ? AF_INET : AF_INET6
        _ = address.withUnsafeBytes { inet_ntop(af, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        let end = buffer.firstIndex(of: 0) ?? buffer.endIndex
        let host = String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(host)/\(prefixLength)"
    }
}
