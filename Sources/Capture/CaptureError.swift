import Foundation

/// Why installing or removing capture rules failed.
public enum CaptureError: Error, CustomStringConvertible {
    case toolMissing(String)
    case toolFailed(String, String)
    case missingCapability
    case rolledBack(String)

    public var description: String {
        switch self {
        case .toolMissing(let tool):
            "'\(tool)' not found: install iptables (apt-get install iptables)"
        case .toolFailed(let tool, let message):
            "\(tool) failed: \(message.trimmingCharacters(in: .whitespacesAndNewlines))"
        case .missingCapability:
            "changing iptables rules needs CAP_NET_ADMIN in this network namespace: run as root, or as an init container with capabilities NET_ADMIN and NET_RAW"
        case .rolledBack(let message):
            "\(message); the IPv4 rules applied in the same run were removed again, nothing is half-applied"
        }
    }
}
