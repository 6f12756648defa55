import Foundation
import HTTP1
import Limits
import Logging
import NIOCore
import Telemetry

/// One accepted connection: how many of its sides are open, its idle timer, its drain, its record, and its
/// access-log line once both sides are closed. Lives on its channel's event loop; every stage that holds the
/// connection reports to it, none reaches back into an earlier stage through it.
final class DownstreamConnection: NIOScheduledCallbackHandler {
    let channel: any Channel
    let direction: TrafficDirection
    let environment: ProxyEnvironment
    /// This event loop's rate limit for warnings a caller can cause.
    let warnings: RateLimitedLog<ProxyWarning>
    /// This event loop's metrics (`nil` with `admin.metrics: false`).
    let metrics: LoopMetrics?
    let record = ConnectionRecord()
    var labels = ConnectionLabels()
    /// Set by Detect for a relayed connection whose destination may speak first; the relay settles it.
    var serverFirstCheck: ServerFirstCheck?
    /// Told to quiesce (a drain began): the stage that holds it finishes what is under way, then closes.
    private(set) var isDraining = false

    private let started = NIODeadline.now()
    private var openSides = 1
    private var connecting = false
    private var idleTimer: NIOScheduledCallback?
    private var drainTimer: Scheduled<Void>?
    private var lastSeenActivity = 0
    private var silentTicks = 0

    init(
        channel: any Channel, direction: TrafficDirection, environment: ProxyEnvironment,
        warnings: RateLimitedLog<ProxyWarning>, metrics: LoopMetrics? = nil
    ) {
        self.channel = channel
        self.direction = direction
        self.environment = environment
        self.warnings = warnings
        self.metrics = metrics
        metrics?.connectionOpened(direction: direction.rawValue)
    }

    /// Detect decided (`protocolName`), this long after the accept.
    func detected(_ protocolName: String) {
        labels.protocolName = protocolName
        metrics?.detected(protocolName, nanoseconds: (NIODeadline.now() - started).nanoseconds)
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

    /// A pooled upstream connection became part of this connection (a tunnel after a 101 or CONNECT).
    func adoptUpstream() {
        openSides += 1
    }

    func sideClosed() {
        openSides -= 1
        if openSides == 0 && !connecting { finish() }
    }

    /// `X-Forwarded-For` for a request from this client (`http.forwardedFor`): the request's own values, then
    /// the client's address; `nil` when off.
    func forwardedFor(_ request: HTTP1Head) -> String? {
        guard environment.settings.addForwardedFor, let client = channel.remoteAddress?.ipAddress else { return nil }
        let previous = request.values(of: .forwardedFor).joined(separator: ", ")
        return previous.isEmpty ? client : "\(previous), \(client)"
    }

    /// A request Mesher answered itself instead of forwarding (a route's direct response is no such case):
    /// a warning, rate-limited per reason.
    func logNotForwarded(_ answer: MesherAnswer, host: String?) {
        if case .direct = answer { return }
        warnings.log(
            .notForwarded(answer.errorName), "request not forwarded",
            metadata: ["error": "\(answer.errorName)", "host": "\(host ?? "-")", "status": "\(answer.status.code)"],
            to: environment.logger)
    }

    /// Refused: reset, and logged as a refusal.
    func refuse(_ reason: ConnectionOutcome) {
        record.fail(reason)
        resetConnection(channel)
    }

    // MARK: - Drain

    /// The drain began: whatever remains open at its deadline is closed then.
    func quiesce() {
        guard !isDraining else { return }
        isDraining = true
        guard let deadline = environment.drain.value, channel.isActive else { return }
        drainTimer = channel.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            closeDrained()
        }
    }

    /// Closed because of the drain (at once when idle, after a last response, or at the deadline).
    func closeDrained() {
        record.fail(.drained)
        channel.close(promise: nil)
    }

    // MARK: - Idle timeout

    // The idle timer ticks every half timeout: two silent ticks in a row close the connection,
    // so it closes after between 1 and 1.5 idle timeouts without a byte either way.
    private func scheduleIdleCheck() {
        let halfTimeout = TimeAmount.nanoseconds(environment.settings.idleTimeout.nanoseconds / 2)
        idleTimer = try? channel.eventLoop.assumeIsolated().scheduleCallback(in: halfTimeout, handler: self)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        guard openSides > 0 else { return }
        if record.activity == lastSeenActivity {
            silentTicks += 1
        } else {
            silentTicks = 0
            lastSeenActivity = record.activity
        }
        if silentTicks >= 2 {
            record.fail(.idleTimeout)
            channel.close(promise: nil)
        } else {
            scheduleIdleCheck()
        }
    }

    // MARK: - The end

    private func finish() {
        idleTimer?.cancel()
        idleTimer = nil
        drainTimer?.cancel()
        drainTimer = nil
        let logger = environment.logger
        let refused = record.outcome.isRefusal
        metrics?.connectionClosed(
            direction: direction.rawValue, protocolName: labels.protocolName ?? "none", result: record.outcome.rawValue,
            bytesUp: record.bytesUp, bytesDown: record.bytesDown)
        // Formatting addresses costs more than the relay of a small request: only when someone reads it.
        guard refused || environment.accessLog != nil || logger.logLevel <= .debug else { return }
        let elapsed = Double((NIODeadline.now() - started).nanoseconds) / 1e9
        let summary = ConnectionSummary(
            startTime: Date().timeIntervalSince1970 - elapsed,
            source: channel.remoteAddress?.logText ?? "-",
            destination: (labels.original ?? labels.upstream)?.logText ?? "-",
            bytesUp: record.bytesUp,
            bytesDown: record.bytesDown,
            durationMilliseconds: elapsed * 1e3,
            result: record.outcome.rawValue,
            direction: direction.rawValue,
            protocolName: labels.protocolName ?? "-",
            serverName: labels.serverName)
        environment.accessLog?.write(summary)
        if refused {
            warnings.log(.refused(record.outcome), "connection refused", metadata: summary.metadata, to: logger)
        } else {
            logger.debug("connection closed", metadata: summary.metadata)
        }
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
