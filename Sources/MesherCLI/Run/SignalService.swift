import Logging
import ServiceLifecycle
import UnixSignals

/// SIGTERM and SIGINT shut the group down gracefully. Trapped before anything starts (`signals` is made
/// first of all), not when the group begins to run as its own `gracefulShutdownSignals` would be: a signal
/// during the start would otherwise kill the process outright, bindings, registration and all.
struct SignalService: Service {
    let signals: UnixSignalsSequence
    let logger: Logger

    func run() async {
        await cancelWhenGracefulShutdown {
            for await signal in signals {
                logger.info("shutting down", metadata: ["signal": "\(signal)"])
                return
            }
        }
    }
}
