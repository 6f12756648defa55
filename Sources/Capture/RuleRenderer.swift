import MesherBase

/// Renders `CaptureSettings` as iptables-restore input for the nat table of one address family.
///
/// Chains: `MESHER_OUTPUT` (from OUTPUT) filters the app's outbound traffic and sends TCP to
/// `MESHER_REDIRECT`; `MESHER_INBOUND` (from PREROUTING) does the same for inbound TCP through
/// `MESHER_IN_REDIRECT`. The proxy's own traffic (uid or mark) returns first, so it is never captured.
public enum RuleRenderer {
    public static let chainPrefix = "MESHER_"

    /// The rules alone, as lines in `*nat` (without the table header or COMMIT).
    public static func rules(for settings: CaptureSettings, family: CIDR.Family) -> RuleLines {
        var out = RuleLines()
        // In nfqueue mode only what the queue reader marked is redirected; the rest goes direct.
        let marked =
            settings.mode == .nfqueue
            ? "-m mark --mark \(SocketMark.text(settings.queueMark))/\(SocketMark.text(settings.queueMark)) " : ""
        let loopback = family == .ipv4 ? "127.0.0.0/8" : "::1/128"

        out.chains += ["MESHER_OUTPUT", "MESHER_REDIRECT"]
        out.rules.append("-A OUTPUT -j MESHER_OUTPUT")
        out.rules.append("-A MESHER_REDIRECT -p tcp -j REDIRECT --to-ports \(settings.outboundPort)")
        out.rules.append("-A MESHER_OUTPUT -m owner --uid-owner \(settings.proxyUID) -j RETURN")
        out.rules.append("-A MESHER_OUTPUT -m mark --mark \(SocketMark.text(settings.proxyMark)) -j RETURN")
        if settings.captureDNS {
            // Before the loopback exemption: local stub resolvers (127.0.0.53) are captured too.
            for proto in ["udp", "tcp"] {
                out.rules.append(
                    "-A MESHER_OUTPUT -p \(proto) --dport 53 \(marked)-j REDIRECT --to-ports \(settings.dnsPort)")
            }
        }
        out.rules.append("-A MESHER_OUTPUT -d \(loopback) -j RETURN")
        for ports in multiportGroups(settings.excludeOutboundPorts) {
            out.rules.append("-A MESHER_OUTPUT -p tcp -m multiport --dports \(ports) -j RETURN")
        }
        for cidr in settings.excludeOutboundCIDRs where cidr.family == family {
            out.rules.append("-A MESHER_OUTPUT -d \(cidr) -j RETURN")
        }
        if let include = settings.includeOutboundCIDRs {
            for cidr in include where cidr.family == family {
                out.rules.append("-A MESHER_OUTPUT -d \(cidr) -p tcp \(marked)-j MESHER_REDIRECT")
            }
        } else {
            out.rules.append("-A MESHER_OUTPUT -p tcp \(marked)-j MESHER_REDIRECT")
        }

        if settings.capturesInbound {
            out.chains += ["MESHER_INBOUND", "MESHER_IN_REDIRECT"]
            out.rules.append("-A PREROUTING -p tcp -j MESHER_INBOUND")
            out.rules.append("-A MESHER_IN_REDIRECT -p tcp -j REDIRECT --to-ports \(settings.inboundPort)")
            out.rules += localDestinationsOnly("MESHER_INBOUND", loopback: loopback)
            switch settings.includeInboundPorts {
            case .all:
                let own = [settings.outboundPort, settings.inboundPort, settings.dnsPort] + settings.reservedPorts
                let skipped = own.map(PortRange.init) + settings.excludeInboundPorts
                for ports in multiportGroups(skipped) {
                    out.rules.append("-A MESHER_INBOUND -p tcp -m multiport --dports \(ports) -j RETURN")
                }
                out.rules.append("-A MESHER_INBOUND -p tcp \(marked)-j MESHER_IN_REDIRECT")
            case .some(let include):
                for ports in multiportGroups(settings.excludeInboundPorts) {
                    out.rules.append("-A MESHER_INBOUND -p tcp -m multiport --dports \(ports) -j RETURN")
                }
                for ports in multiportGroups(include) {
                    out.rules.append(
                        "-A MESHER_INBOUND -p tcp -m multiport --dports \(ports) \(marked)-j MESHER_IN_REDIRECT")
                }
            }
        }
        return out
    }

    /// nfqueue mode, mangle table: the first packet of each new connection (TCP SYN, DNS over UDP) waits for
    /// Mesher's queue reader, which marks it while Mesher serves; `--queue-bypass` lets it through unmarked
    /// when no reader is there. Mesher's own traffic never queues.
    public static func queueRules(for settings: CaptureSettings, family: CIDR.Family) -> RuleLines {
        guard settings.mode == .nfqueue else { return RuleLines() }
        var out = RuleLines()
        let queue = "-j NFQUEUE --queue-num \(settings.queueNumber) --queue-bypass"
        out.chains.append("MESHER_QUEUE_OUTPUT")
        out.rules.append("-A OUTPUT -p tcp --syn -j MESHER_QUEUE_OUTPUT")
        if settings.captureDNS {
            out.rules.append("-A OUTPUT -p udp --dport 53 -m conntrack --ctstate NEW -j MESHER_QUEUE_OUTPUT")
        }
        out.rules.append("-A MESHER_QUEUE_OUTPUT -m owner --uid-owner \(settings.proxyUID) -j RETURN")
        out.rules.append("-A MESHER_QUEUE_OUTPUT -m mark --mark \(SocketMark.text(settings.proxyMark)) -j RETURN")
        out.rules.append("-A MESHER_QUEUE_OUTPUT \(queue)")
        if settings.capturesInbound {
            out.chains.append("MESHER_QUEUE_INBOUND")
            out.rules.append("-A PREROUTING -p tcp --syn -j MESHER_QUEUE_INBOUND")
            out.rules += localDestinationsOnly(
                "MESHER_QUEUE_INBOUND", loopback: family == .ipv4 ? "127.0.0.0/8" : "::1/128")
            out.rules.append("-A MESHER_QUEUE_INBOUND \(queue)")
        }
        return out
    }

    /// Inbound capture is for connections to this host only: a neighbour routing packets for other networks
    /// (or for loopback, with route_localnet) through the pod must not get Mesher to connect there for it.
    private static func localDestinationsOnly(_ chain: String, loopback: String) -> [String] {
        ["-A \(chain) -d \(loopback) -j RETURN", "-A \(chain) -m addrtype ! --dst-type LOCAL -j RETURN"]
    }

    /// multiport takes at most 15 ports per rule, a range counting as two.
    static func multiportGroups(_ ranges: [PortRange]) -> [String] {
        var groups: [String] = []
        var current: [String] = []
        var used = 0
        for range in ranges {
            let cost = range.lower == range.upper ? 1 : 2
            if used + cost > 15 {
                groups.append(current.joined(separator: ","))
                current = []
                used = 0
            }
            current.append(range.description)
            used += cost
        }
        if !current.isEmpty { groups.append(current.joined(separator: ",")) }
        return groups
    }
}

/// Chains to declare and rules to append, in order.
public struct RuleLines: Equatable, Sendable {
    public var chains: [String] = []
    public var rules: [String] = []
}
