import Capture
import Logging
import MesherBase

/// Rules installed in nfqueue mode redirect only what the queue gate marked; a Mesher in redirect mode
/// binds no gate, so every connection would go direct, outside the mesh, and nothing would say so.
enum CaptureModeCheck {
    static func verify(mode: CaptureMode, installed: CaptureMode?, logger: Logger) throws {
        switch (installed, mode) {
        case (.nfqueue, .redirect):
            throw CaptureModeMismatch(
                description: """
                    the capture rules of this network namespace are in nfqueue mode, but this Mesher runs in redirect \
                    mode: no connection would reach it. Set capture.mode: nfqueue (or MESHER_CAPTURE_MODE=nfqueue), \
                    or reinstall the rules with 'mesher init --capture-mode redirect'
                    """)
        case (.redirect, .nfqueue):
            logger.warning(
                """
                the capture rules of this network namespace are in redirect mode: they capture whether Mesher \
                runs or not, so this Mesher's nfqueue mode does not make capture fail-open
                """)
        default:
            break
        }
    }
}

/// Exits 2, as a bad configuration does.
struct CaptureModeMismatch: Error, CustomStringConvertible {
    let description: String
}
