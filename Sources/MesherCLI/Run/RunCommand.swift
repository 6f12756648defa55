import ArgumentParser
import Capture
import Config
import Foundation
import Limits
import Logging
import MesherBase
import Proxy

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the proxy: relay captured connections to their original destination.")

    @Option(help: "Path of mesher.yaml (optional; env MESHER_CONFIG).")
    var config: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (overrides log.level).")
    var logLevel: String?

    @Option(help: "Access log: '-' for standard output or a file path (overrides log.accessLog).")
    var accessLog: String?

    @Flag(
        help: """
            All in one (dev VM, privileged container): install the capture rules for this network namespace once \
            listening, and remove them on SIGTERM/SIGINT before draining. Fail-open nfqueue mode unless \
            --capture-mode redirect: a crash leaves the rules but not a black hole.
            """)
    var capture = false

    @OptionGroup(title: "Capture rules, with --capture (as for mesher init; ports come from the config)")
    var captureOptions: CaptureOptions

    func validate() throws {
        if let logLevel, LogLevel(rawValue: logLevel) == nil {
            throw ValidationError("--log-level: '\(logLevel)' is not one of \(LogLevel.spellings())")
        }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configPath = config ?? environment["MESHER_CONFIG"]
        // Before the read: a change made while Mesher starts is still seen as one.
        let configStamp = configPath.map(FileStamp.init)
        let settings = try resolvedConfig(environment: environment)
        let level = LogLevelControl(Logger.Level(rawValue: settings.log.level.rawValue) ?? .info)
        LoggingSystem.bootstrap(level.handler)
        let logger = Logger(label: "mesher")
        // --capture installs rules of its own mode over whatever is there.
        if !capture {
            try CaptureModeCheck.verify(
                mode: settings.capture.mode, installed: await CaptureInstaller.installedMode(), logger: logger)
        }
        FileDescriptorLimit.raise()
        let accessLog: AccessLog?
        do {
            accessLog = try settings.log.accessLog.map(AccessLog.init(path:))
        } catch {
            throw ValidationError("log.accessLog: cannot open '\(settings.log.accessLog ?? "")': \(error)")
        }
        let plan = try capture ? await capturePlan(settings, environment: environment) : nil
        let command = self
        try await Sidecar(
            config: settings, capture: plan, accessLog: accessLog, logger: logger, logLevel: level,
            configPath: configPath, configStamp: configStamp,
            loadConfig: { try command.resolvedConfig(environment: environment) }
        ).run()
    }

    /// mesher.yaml, then what the environment and the flags override.
    func resolvedConfig(environment: [String: String]) throws -> MesherConfig {
        var settings = MesherConfig()
        if let path = config ?? environment["MESHER_CONFIG"] {
            settings = try MesherConfig.load(path: path)
        }
        // As the init step is configured: an injected sidecar learns the capture mode from its environment.
        if let text = environment["MESHER_CAPTURE_MODE"] {
            guard let mode = CaptureMode(rawValue: text) else {
                throw ValidationError("MESHER_CAPTURE_MODE: '\(text)' is not one of \(CaptureMode.spellings())")
            }
            settings.capture.mode = mode
        }
        // All in one: nfqueue unless asked otherwise, so that a crash leaves the box working (fail-open).
        if capture && captureOptions.captureMode == nil && environment["MESHER_CAPTURE_MODE"] == nil {
            settings.capture.mode = .nfqueue
        }
        if let logLevel = logLevel.flatMap(LogLevel.init(rawValue:)) { settings.log.level = logLevel }
        if let accessLog { settings.log.accessLog = accessLog }
        return settings
    }

    /// `--capture`: the rules of `mesher init`, pointing at the ports this Mesher listens on.
    private func capturePlan(_ settings: MesherConfig, environment: [String: String]) async throws -> CapturePlan {
        var rules = try captureOptions.settings(environment: environment)
        rules.outboundPort = settings.outbound.port
        rules.inboundPort = settings.inbound.port
        rules.dnsPort = settings.dns.port
        if !settings.inbound.enabled { rules.includeInboundPorts = .none }
        if !settings.dns.enabled { rules.captureDNS = false }
        if let mark = settings.effectiveProxyMark { rules.proxyMark = mark }
        rules.mode = settings.capture.mode
        rules.queueNumber = settings.capture.queueNumber
        rules.queueMark = settings.capture.queueMark
        return CapturePlan(
            installer: try await CaptureCLI.installer(captureOptions, environment: environment), rules: rules)
    }
}

/// The rules `--capture` installs, and the installer that removes them again.
struct CapturePlan {
    let installer: CaptureInstaller
    let rules: CaptureSettings
}
