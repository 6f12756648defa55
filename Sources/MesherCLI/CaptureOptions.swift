import ArgumentParser
import Capture
import Foundation
import MesherBase

/// `mesher init` settings. Each flag is also read from the environment as `MESHER_<FLAG>`
/// (`--proxy-uid` → `MESHER_PROXY_UID`), which is how an init container is configured; a flag wins.
struct CaptureOptions: ParsableArguments {
    @Option(help: "Port of Mesher's outbound listener (default \(MesherDefaults.outboundPort)).")
    var outboundPort: String?
    @Option(help: "Port of Mesher's inbound listener (default \(MesherDefaults.inboundPort)).")
    var inboundPort: String?
    @Option(help: "Port of Mesher's DNS listener (default \(MesherDefaults.dnsPort)).")
    var dnsPort: String?
    @Option(help: "Uid the proxy runs as; its traffic is never captured (default \(MesherDefaults.proxyUID)).")
    var proxyUid: String?
    @Option(
        help: """
            Socket mark of the proxy's own traffic when it runs as root \
            (default \(SocketMark.text(MesherDefaults.proxyMark))).
            """)
    var proxyMark: String?
    @Option(help: "Comma-separated CIDRs to capture outbound; '*' for all (default '*').")
    var includeOutboundCidrs: String?
    @Option(help: "Comma-separated CIDRs never captured outbound.")
    var excludeOutboundCidrs: String?
    @Option(help: "Comma-separated ports or LOW-HIGH ranges never captured outbound.")
    var excludeOutboundPorts: String?
    @Option(help: "Inbound ports to capture: a list, '*' for all, empty for none (default '*').")
    var includeInboundPorts: String?
    @Option(help: "Inbound ports never captured.")
    var excludeInboundPorts: String?
    @Flag(inversion: .prefixedNo, help: "Redirect DNS (UDP and TCP port 53) to the DNS listener (default off).")
    var captureDns: Bool?
    @Option(help: "redirect (default) or nfqueue (fail-open: needs Mesher's queue reader, CAP_NET_ADMIN).")
    var captureMode: String?
    @Option(help: "NFQUEUE number for nfqueue mode (default \(MesherDefaults.queueNumber)).")
    var queueNum: String?
    @Option(
        help: """
            Mark bit the queue reader sets in nfqueue mode (default \(SocketMark.text(MesherDefaults.queueMark)); \
            must not overlap --proxy-mark).
            """)
    var queueMark: String?
    @Option(help: "iptables variant: auto, nft or legacy (default auto: the one holding the host's rules).")
    var iptablesMode: String?

    func settings(environment: [String: String]) throws -> CaptureSettings {
        var settings = CaptureSettings()
        let input = Input(environment: environment)
        try input.read(outboundPort, "outbound-port") { settings.outboundPort = try Input.port($0) }
        try input.read(inboundPort, "inbound-port") { settings.inboundPort = try Input.port($0) }
        try input.read(dnsPort, "dns-port") { settings.dnsPort = try Input.port($0) }
        try input.read(proxyUid, "proxy-uid") { settings.proxyUID = try Input.number($0, "a uid") }
        try input.read(proxyMark, "proxy-mark") { settings.proxyMark = try Input.mark($0) }
        try input.read(includeOutboundCidrs, "include-outbound-cidrs") {
            settings.includeOutboundCIDRs =
                $0.trimmingCharacters(in: .whitespaces) == "*" ? nil : try CIDR.list(parsing: $0)
        }
        try input.read(excludeOutboundCidrs, "exclude-outbound-cidrs") {
            settings.excludeOutboundCIDRs = try CIDR.list(parsing: $0)
        }
        try input.read(excludeOutboundPorts, "exclude-outbound-ports") {
            settings.excludeOutboundPorts = try PortRange.list(parsing: $0)
        }
        try input.read(includeInboundPorts, "include-inbound-ports") {
            settings.includeInboundPorts = try PortSelection(parsing: $0)
        }
        try input.read(excludeInboundPorts, "exclude-inbound-ports") {
            settings.excludeInboundPorts = try PortRange.list(parsing: $0)
        }
        try input.read(captureDns.map { String($0) }, "capture-dns") { settings.captureDNS = try Input.bool($0) }
        try input.read(captureMode, "capture-mode") { text in
            guard let mode = CaptureMode(rawValue: text) else {
                throw CaptureInputError.invalid(text, "expected \(CaptureMode.spellings(separator: " or "))")
            }
            settings.mode = mode
        }
        try input.read(queueNum, "queue-num") { settings.queueNumber = try Input.port($0) }
        try input.read(queueMark, "queue-mark") { text in
            let mark = try Input.mark(text)
            guard mark & settings.proxyMark == 0 else {
                throw CaptureInputError.invalid(
                    text, "overlaps the proxy mark \(SocketMark.text(settings.proxyMark))")
            }
            settings.queueMark = mark
        }
        return settings
    }

    func iptables(environment: [String: String]) throws -> Iptables? {
        var variant: Iptables.Variant?
        try Input(environment: environment).read(iptablesMode, "iptables-mode") { text in
            guard text == "auto" || Iptables.Variant(rawValue: text) != nil, text != "system" else {
                throw CaptureInputError.invalid(text, "expected auto, nft or legacy")
            }
            variant = Iptables.Variant(rawValue: text)
        }
        return variant.map(Iptables.init(variant:))
    }
}

/// A flag's value, else its environment variable; errors name whichever was used.
struct Input {
    let environment: [String: String]

    static func environmentName(_ flag: String) -> String {
        "MESHER_" + flag.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    func read(_ flagValue: String?, _ flag: String, _ apply: (String) throws -> Void) throws {
        let (value, source): (String?, String) =
            flagValue != nil
            ? (flagValue, "--\(flag)") : (environment[Self.environmentName(flag)], Self.environmentName(flag))
        guard let value else { return }
        do {
            try apply(value)
        } catch {
            throw ValidationError("\(source): \(error)")
        }
    }

    static func port(_ text: String) throws -> UInt16 {
        guard let port = UInt16(text.trimmingCharacters(in: .whitespaces)), port > 0 else {
            throw CaptureInputError.invalid(text, "expected a port 1-65535")
        }
        return port
    }

    static func number(_ text: String, _ what: String) throws -> UInt32 {
        guard let value = UInt32(text.trimmingCharacters(in: .whitespaces)) else {
            throw CaptureInputError.invalid(text, "expected \(what) (a whole number)")
        }
        return value
    }

    static func mark(_ text: String) throws -> UInt32 {
        guard let value = SocketMark.parse(text), value != 0 else {
            throw CaptureInputError.invalid(
                text, "expected a non-zero mark like \(SocketMark.text(MesherDefaults.proxyMark))")
        }
        return value
    }

    static func bool(_ text: String) throws -> Bool {
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off", "": return false
        default: throw CaptureInputError.invalid(text, "expected true or false")
        }
    }
}
