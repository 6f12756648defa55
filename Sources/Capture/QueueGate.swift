import CNetfilterQueue
import Foundation
import Synchronization

/// The reader side of fail-open capture: new connections' first packets wait in an NFQUEUE, and this gate
/// accepts each one, marked (so the nat rules redirect it to Mesher) only while Mesher is open for business.
/// With no reader at all (Mesher not started, or crashed) the kernel lets them through unmarked: direct.
public final class QueueGate: Sendable {
    private nonisolated(unsafe) let queue: OpaquePointer
    private let stopped = Atomic(false)
    private let finished = DispatchSemaphore(value: 0)

    /// Binds the queue; fails with a message that names the fallback (`--capture-mode redirect`).
    public init(queueNumber: UInt16, mark: UInt32) throws(CaptureError) {
        var error: Int32 = 0
        guard let queue = mesher_nfq_open(queueNumber, mark, mark, &error) else {
            throw .queueUnavailable(queueNumber, error)
        }
        self.queue = queue
        let thread = Thread { [self] in
            while !self.stopped.load(ordering: .relaxed) {
                _ = mesher_nfq_process(self.queue, 200)
            }
            self.finished.signal()
        }
        thread.name = "mesher-nfqueue"
        thread.start()
    }

    /// Marks from now on: call once the listeners accept.
    public func open() { mesher_nfq_set_open(queue, 1) }

    /// Stops marking (new connections go direct) while the reader keeps the queue, so none waits.
    public func close() { mesher_nfq_set_open(queue, 0) }

    public func stop() {
        close()
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        finished.wait()
        mesher_nfq_close(queue)
    }
}
