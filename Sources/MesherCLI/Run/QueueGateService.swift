import Capture
import ServiceLifecycle

/// nfqueue mode: the gate marks new connections for capture from the end of the start (opened there, once
/// every listener accepts), and stops marking first of all at shutdown, so that every connection opened from
/// then on goes direct.
struct QueueGateService: MesherService {
    let gate: QueueGate

    func stop() async {
        gate.close()
        await gate.stop()
    }
}
