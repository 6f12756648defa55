import Capture
import Logging

/// `mesher run --capture`: the rules of `mesher init`, installed once the listeners are up and removed
/// at shutdown before the proxy drains, so that new connections go direct while the open ones finish.
struct CaptureRulesService: MesherService {
    let installer: CaptureInstaller
    let logger: Logger

    func stop() async {
        do {
            try await installer.uninstall()
            logger.info("capture rules removed")
        } catch {
            logger.error("cannot remove capture rules", metadata: ["error": "\(error)"])
        }
    }
}
