/// How the capture rules send connections to Mesher, as `mesher init` installs them and `mesher run` must
/// know them (nfqueue mode needs its queue reader).
public enum CaptureMode: String, Sendable, CaseIterable {
    /// Every new connection is redirected: no capability needed at run time, but refused while Mesher is down.
    case redirect
    /// Only connections whose first packet Mesher's queue reader marked: fail-open when Mesher is down.
    case nfqueue
}
