import NIOHTTP2

/// One receive window Mesher keeps itself (nio-http2 does so only for the child channels Mesher no longer
/// makes): the peer may send at most `target` bytes that Mesher has not passed on yet. Bytes are released as
/// they are passed on (or dropped), and a WINDOW_UPDATE goes out once the peer's window is down to half the
/// target, so a stream whose other side does not take its bytes holds at most one window in Mesher.
struct ReceiveWindow: Equatable {
    let target: Int
    /// What the peer may still send, as it sees it.
    private(set) var open: Int
    /// Received and not released yet.
    private(set) var held = 0

    /// `initial`: the window the peer starts with (the protocol's 65,535 for a connection, SETTINGS for a
    /// stream).
    init(target: Int, initial: Int) {
        self.target = target
        open = initial
    }

    /// A DATA frame came, with `count` flow-controlled bytes (its padding included).
    mutating func received(_ count: Int) {
        open -= count
        held += count
    }

    /// `count` bytes were passed on: the increment to announce, if one is due.
    mutating func release(_ count: Int) -> Int? {
        held -= count
        return increment()
    }

    /// The increment that opens the window back to the target less what is held, once it is down to half.
    mutating func increment() -> Int? {
        let allowed = target - held
        guard open <= target / 2, allowed > open else { return nil }
        defer { open = allowed }
        return allowed - open
    }

    /// A connection's window, from what nio-http2 counts (DATA of streams already gone included): topped up to
    /// `target` once it is down to half (the protocol's first 65,535 bytes included).
    static func connectionIncrement(_ update: NIOHTTP2WindowUpdatedEvent, target: Int) -> Int? {
        guard let size = update.inboundWindowSize, size <= target / 2, size < target else { return nil }
        return target - size
    }

    /// A DATA frame's flow-controlled length (RFC 9113 §6.1: the padding and its length byte count).
    static func length(of data: HTTP2Frame.FramePayload.Data) -> Int {
        data.data.readableBytes + (data.paddingBytes.map { $0 + 1 } ?? 0)
    }
}
