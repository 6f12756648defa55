import ServiceLifecycle

/// The shape of every long-lived part of `mesher run`: it was started (bound, registered, installed)
/// before the group runs, so that start order is the order of the group's list; it then serves on event
/// loops or threads of its own until the group shuts down, and stops in `stop()`. The group shuts its
/// services down in reverse order, each one only after the one after it has stopped.
protocol MesherService: Service {
    func stop() async
}

extension MesherService {
    func run() async {
        // Cancellation (a second signal, or a service that failed) ends the wait just as shutdown does.
        try? await gracefulShutdown()
        await stop()
    }
}
