import Foundation
import Logging
import NIOCore
import Sniff

/// One captured connection: its two sides, counters, idle timer and summary. Lives on one event loop.
final class RelaySession: NIOScheduledCallbackHandler {
    let environment: RelayEnvironment
    let downstream: any Channel
    let direction: TrafficDirection
    /// On the explicit-proxy listener: Mesher itself is the proxy the app addresses (CONNECT is Mesher's).
    let isExplicitProxy: Bool
    var destination: SocketAddress?
    var outcome = RelayOutcome.ok
    /// The protocol seen in the first bytes; `nil` until sniffed.
    var sniffed: SniffResult?
    var bytesUp = 0
    var bytesDown = 0
    /// HTTP requests forwarded on this connection.
    var requests = 0
    /// Bumped on every read of either side; the idle timer compares it between ticks.
    var activity = 0

    private let started = NIODeadline.now()
    private var openSides = 1
    private var connecting = false
    private var idleTimer: NIOScheduledCallback?
    private var lastSeenActivity = 0
    private var silentTicks = 0

    init(
        environment: RelayEnvironment, downstream: any Channel, direction: TrafficDirection = .outbound,
        isExplicitProxy: Bool = false
    ) {
        self.environment = environment
        self.downstream = downstream
        self.direction = direction
        self.isExplicitProxy = isExplicitProxy
        environment.tracker.add(downstream)
    }

    func connectStarted() {
        connecting = true
        startIdleTimer()
    }

    func startIdleTimer() {
        if idleTimer == nil { scheduleIdleCheck() }
    }

    func connectFinished(upstreamOpen: Bool) {
        connecting = false
        if upstreamOpen {
            openSides += 1
        } else if openSides == 0 {
            finish()
        }
    }

    /// A pooled upstream connection became part of this session (a tunnel after a 101 or CONNECT).
    func adoptUpstream() {
        openSides += 1
    }

    /// Sets the outcome unless an earlier cause is already recorded.
    func fail(_ outcome: RelayOutcome) {
        if self.outcome == .ok { self.outcome = outcome }
    }

    func sideClosed() {
        openSides -= 1
        if openSides == 0 && !connecting { finish() }
    }

    // The idle timer ticks every half timeout: two silent ticks in a row close the connection,
    // so it closes after between 1 and 1.5 idle timeouts without a byte either way.
    private func scheduleIdleCheck() {
        let halfTimeout = TimeAmount.nanoseconds(environment.settings.idleTimeout.nanoseconds / 2)
        idleTimer = try? downstream.eventLoop.assumeIsolated().scheduleCallback(in: halfTimeout, handler: self)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        guard openSides > 0 else { return }
        if activity == lastSeenActivity {
            silentTicks += 1
        } else {
            silentTicks = 0
            lastSeenActivity = activity
        }
        if silentTicks >= 2 {
            fail(.idleTimeout)
            downstream.close(promise: nil)
        } else {
            scheduleIdleCheck()
        }
    }

    private func finish() {
        idleTimer?.cancel()
        idleTimer = nil
        environment.tracker.remove(downstream)
        let logger = environment.logger
        let refused = outcome.isRefusal
        // Formatting addresses costs more than the relay of a small request: only when someone reads it.
        guard refused || environment.accessLog != nil || logger.logLevel <= .debug else { return }
        let elapsed = Double((NIODeadline.now() - started).nanoseconds) / 1e9
        let summary = ConnectionSummary(
            startTime: Date().timeIntervalSince1970 - elapsed,
            source: downstream.remoteAddress.map(Self.format) ?? "-",
            destination: destination.map(Self.format) ?? "-",
            bytesUp: bytesUp,
            bytesDown: bytesDown,
            durationMilliseconds: elapsed * 1e3,
            result: outcome.rawValue,
            direction: direction.rawValue,
            protocolName: sniffed?.protocolName ?? "-",
            serverName: sniffed?.serverName)
        environment.accessLog?.write(summary)
        if refused {
            environment.loop(downstream.eventLoop).warnings.log(
                .refused(outcome), "connection refused", metadata: summary.metadata, to: logger)
        } else {
            logger.debug("connection closed", metadata: summary.metadata)
        }
    }

    /// "1.2.3.4:80" / "[::1]:80"; only formatted when a connection ends and someone logs it.
    static func format(_ address: SocketAddress) -> String {
        let host = address.ipAddress ?? "?"
        let port = address.port ?? 0
        if case .v6 = address { return "[\(host)]:\(port)" }
        return "\(host):\(port)"
    }
}

extension ConnectionSummary {
    var metadata: Logger.Metadata {
        [
            "src": "\(source)", "dst": "\(destination)", "up": "\(bytesUp)", "down": "\(bytesDown)",
            "ms": "\(String(format: "%.1f", durationMilliseconds))", "result": "\(result)", "proto": "\(protocolName)",
        ]
    }
}
