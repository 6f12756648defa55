import HTTPClients
import Logging
import NIOCore
import Synchronization

/// Runs a probe every `interval`; the app turns down after `failureThreshold` failures in a row and up
/// again after `successThreshold` passes in a row. It starts down: nothing is sent to an app not yet ready.
/// While it is down, failed probes are logged with their cause: at once when the cause changes, else once
/// per `State.quietPeriod`, so that an app that never comes up says why without a line per probe.
public final class HealthChecker: Sendable {
    struct State {
        /// Between two lines about failed probes with the same cause, while the app is down.
        static let quietPeriod = TimeAmount.seconds(10)

        enum Action: Equatable {
            case none
            /// The app turned up or down (`cause`: the failure that turned it down).
            case changed(isUp: Bool, cause: String?)
            /// A probe failed while the app is down: `unlogged` failures were left out since the last line.
            case stillDown(cause: String, unlogged: Int)
        }

        let failureThreshold: Int
        let successThreshold: Int
        var isUp = false
        var successes = 0
        var failures = 0
        /// The last probe's cause when it failed.
        var lastFailure: String?
        var logged: (cause: String, at: NIODeadline)?
        var unlogged = 0

        mutating func record(_ outcome: HealthProbe.Outcome, now: NIODeadline) -> Action {
            guard case .failed(let cause) = outcome else {
                successes += 1
                failures = 0
                lastFailure = nil
                guard !isUp, successes >= successThreshold else { return .none }
                isUp = true
                logged = nil
                unlogged = 0
                return .changed(isUp: true, cause: nil)
            }
            failures += 1
            successes = 0
            lastFailure = cause
            if isUp {
                guard failures >= failureThreshold else { return .none }
                isUp = false
                logged = (cause, now)
                return .changed(isUp: false, cause: cause)
            }
            if let logged, logged.cause == cause, now - logged.at < Self.quietPeriod {
                unlogged += 1
                return .none
            }
            defer { (logged, unlogged) = ((cause, now), 0) }
            return .stillDown(cause: cause, unlogged: unlogged)
        }
    }

    private let probe: HealthProbe
    private let client: MesherHTTPClient
    private let interval: TimeAmount
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let onChange: @Sendable (Bool) -> Void
    private let state: Mutex<State>
    private let task = Mutex<RepeatedTask?>(nil)

    public init(
        probe: HealthProbe, client: MesherHTTPClient, interval: TimeAmount, failureThreshold: Int,
        successThreshold: Int, eventLoop: any EventLoop, logger: Logger, onChange: @escaping @Sendable (Bool) -> Void
    ) {
        self.probe = probe
        self.client = client
        self.interval = interval
        self.eventLoop = eventLoop
        self.logger = logger
        self.onChange = onChange
        state = Mutex(State(failureThreshold: failureThreshold, successThreshold: successThreshold))
    }

    /// Why the last probe failed; nil when it passed (or none ran yet).
    public var lastFailure: String? { state.withLock { $0.lastFailure } }

    public func start() {
        let repeated = eventLoop.scheduleRepeatedAsyncTask(initialDelay: .zero, delay: interval) { _ in
            self.probe.run(on: self.eventLoop, client: self.client).map { self.record($0) }
        }
        task.withLock { $0 = repeated }
    }

    public func stop() {
        task.withLock { $0 }?.cancel()
    }

    private func record(_ outcome: HealthProbe.Outcome) {
        let action = state.withLock { $0.record(outcome, now: .now()) }
        var metadata: Logger.Metadata = ["address": "\(probe.authority)"]
        switch action {
        case .none:
            return
        case .changed(let isUp, let cause):
            if let cause { metadata["cause"] = "\(cause)" }
            logger.info(isUp ? "app healthy" : "app unhealthy", metadata: metadata)
            onChange(isUp)
        case .stillDown(let cause, let unlogged):
            if unlogged > 0 { metadata["suppressed"] = "\(unlogged)" }
            logger.warning("app health check failed: \(cause)", metadata: metadata)
        }
    }
}
