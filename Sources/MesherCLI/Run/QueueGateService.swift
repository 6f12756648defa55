import Capture
import ServiceLifecycle

/// nfqueue mode: the gate marks new connections for capture while Mesher runs, and stops marking first of
/// all at shutdown, so that every connection opened from then on goes direct.
struct QueueGateService: MesherService {
    let gate: QueueGate

    func run() async {
        gate.open()
        try? await gracefulShutdown()
        await stop()
    }

    func stop() async {
        gate.close()
        await gate.stop()
    }
}
