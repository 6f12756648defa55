import Foundation

/// Why installing or removing capture rules failed.
public enum CaptureError: Error, CustomStringConvertible {
    case toolMissing(String)
    case toolFailed(String, String)
    case missingCapability
    case rolledBack(String)
    case queueUnavailable(UInt16, Int32)

    public var description: String {
        switch self {
        case .toolMissing(let tool):
            "'\(tool)' not found: install iptables (apt-get install iptables)"
        case .toolFailed(let tool, let message):
            "\(tool) failed: \(message.trimmingCharacters(in: .whitespacesAndNewlines))"
        case .missingCapability:
            "changing iptables rules needs CAP_NET_ADMIN in this network namespace: run as root, or as an init container with capabilities NET_ADMIN and NET_RAW"
        case .queueUnavailable(let queue, let error):
            switch error {
            case EBUSY, EPERM:
                // The kernel says EPERM both for a queue bound by another process and for a missing capability.
                "cannot bind NFQUEUE \(queue): it already has a reader (choose another --queue-num), or this process lacks CAP_NET_ADMIN (give the sidecar that one capability); or use --capture-mode redirect"
            default:
                "cannot bind NFQUEUE \(queue): \(String(cString: strerror(error))) (is the nfnetlink_queue module loaded?); --capture-mode redirect works without it"
            }
        case .rolledBack(let message):
            "\(message); the IPv4 rules applied in the same run were removed again, nothing is half-applied"
        }
    }
}
