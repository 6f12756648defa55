import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// SO_LINGER 0 makes close send RST: the peer learns at once that the connection failed (a refusal, a
/// response cut off, a reset passed on from the other side).
func resetConnection(_ channel: any Channel) {
    if let provider = channel as? any SocketOptionProvider {
        _ = provider.setSoLinger(linger(l_onoff: 1, l_linger: 0))
    }
    channel.close(promise: nil)
}
