import ServiceLifecycle

/// `POST /quitquitquit` on the admin port: a Job's app asks its classic sidecar to leave. The service
/// returns, and the group then shuts down gracefully, as on SIGTERM.
struct QuitService: Service {
    private let requests: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (requests, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// For the admin server: safe from any thread, any number of times.
    var request: @Sendable () -> Void {
        { [continuation] in continuation.yield() }
    }

    func run() async {
        await withGracefulShutdownHandler {
            for await _ in requests { return }
        } onGracefulShutdown: { [continuation] in
            continuation.finish()
        }
    }
}
