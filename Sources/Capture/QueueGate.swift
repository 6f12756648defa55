import CNetfilterQueue
import NIOPosix
import Synchronization

/// The reader side of fail-open capture: new connections' first packets wait in an NFQUEUE, and this gate
/// accepts each one, marked (so the nat rules redirect it to Mesher) only while Mesher is open for business.
/// With no reader at all (Mesher not started, or crashed) the kernel lets them through unmarked: direct.
public final class QueueGate: Sendable {
    private nonisolated(unsafe) let queue: OpaquePointer
    private let stopped = StopFlag()
    /// The verdict loop is blocking C: it gets a thread of its own.
    private let thread = NIOThreadPool(numberOfThreads: 1)
    private let reader: Task<Void, any Error>

    /// Binds the queue; fails with a message that names the fallback (`--capture-mode redirect`).
    public init(queueNumber: UInt16, mark: UInt32) throws(CaptureError) {
        var error: Int32 = 0
        guard let queue = mesher_nfq_open(queueNumber, mark, mark, &error) else {
            throw .queueUnavailable(queueNumber, error)
        }
        self.queue = queue
        thread.start()
        // Only the reader thread uses it until `stop` has awaited that thread's end.
        nonisolated(unsafe) let handle = queue
        reader = Task { [thread, stopped] in
            try await thread.runIfActive {
                // 200 ms at most per call, so that `stop` is seen promptly.
                while !stopped.value.load(ordering: .relaxed) { _ = mesher_nfq_process(handle, 200) }
            }
        }
    }

    /// Marks from now on: call once the listeners accept.
    public func open() { mesher_nfq_set_open(queue, 1) }

    /// Stops marking (new connections go direct) while the reader keeps the queue, so none waits.
    public func close() { mesher_nfq_set_open(queue, 0) }

    /// Ends the reader and unbinds the queue: from then on the kernel lets queued packets through (bypass).
    public func stop() async {
        close()
        guard !stopped.value.exchange(true, ordering: .relaxed) else { return }
        _ = try? await reader.value
        mesher_nfq_close(queue)
        try? await thread.shutdownGracefully()
    }
}

/// Shared by the gate and its reader thread's closure.
private final class StopFlag: Sendable {
    let value = Atomic(false)
}
