import HTTPClients
import Logging
import NIOCore
import Synchronization

/// Runs a probe every `interval`; the app turns down after `failureThreshold` failures in a row and up
/// again after `successThreshold` passes in a row. It starts down: nothing is sent to an app not yet ready.
public final class HealthChecker: Sendable {
    private struct State {
        var isUp = false
        var successes = 0
        var failures = 0
        var task: RepeatedTask?
    }

    private let probe: HealthProbe
    private let client: MesherHTTPClient
    private let interval: TimeAmount
    private let failureThreshold: Int
    private let successThreshold: Int
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let onChange: @Sendable (Bool) -> Void
    private let state = Mutex(State())

    public init(
        probe: HealthProbe, client: MesherHTTPClient, interval: TimeAmount, failureThreshold: Int,
        successThreshold: Int, eventLoop: any EventLoop, logger: Logger, onChange: @escaping @Sendable (Bool) -> Void
    ) {
        self.probe = probe
        self.client = client
        self.interval = interval
        self.failureThreshold = failureThreshold
        self.successThreshold = successThreshold
        self.eventLoop = eventLoop
        self.logger = logger
        self.onChange = onChange
    }

    public func start() {
        let task = eventLoop.scheduleRepeatedAsyncTask(initialDelay: .zero, delay: interval) { _ in
            self.probe.run(on: self.eventLoop, client: self.client).map { self.record($0) }
        }
        state.withLock { $0.task = task }
    }

    public func stop() {
        state.withLock { $0.task }?.cancel()
    }

    private func record(_ passed: Bool) {
        let changed = state.withLock { state -> Bool? in
            if passed {
                state.successes += 1
                state.failures = 0
                guard !state.isUp, state.successes >= successThreshold else { return nil }
                state.isUp = true
            } else {
                state.failures += 1
                state.successes = 0
                guard state.isUp, state.failures >= failureThreshold else { return nil }
                state.isUp = false
            }
            return state.isUp
        }
        guard let changed else { return }
        logger.info(
            changed ? "app healthy" : "app unhealthy", metadata: ["host": "\(probe.host)", "port": "\(probe.port)"])
        onChange(changed)
    }
}
