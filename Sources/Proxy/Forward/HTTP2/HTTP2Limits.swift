import NIOCore
import NIOHTTP2

/// What one HTTP/2 connection may hold or cost. Flow-control windows bound what a stream buffers in Mesher:
/// a stream whose reader is slow holds at most its window, and no other stream waits for it.
public struct HTTP2Limits: Sendable, Equatable {
    /// Streams a client may have open at once on one connection (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    public var maxConcurrentStreams = 100
    /// Each stream's receive window, both ways.
    public var streamWindow = 65535
    /// A connection's receive window, all its streams together.
    public var connectionWindow = 1 << 20
    /// Streams a client may reset (or have reset for errors) per `resetWindow` before the connection is closed:
    /// the rapid-reset attack (CVE-2023-44487) opens and cancels streams faster than work for them can stop.
    public var maxResets = 200
    public var resetWindow = TimeAmount.seconds(30)
    /// CONTINUATION frames after one HEADERS (the 2024 CONTINUATION flood).
    public var maxContinuationFrames = 5
    /// Response bytes held for clients that do not read them, every connection together (`http.slowReaderBytes`).
    public var slowReaderBytes = 64 << 20
    /// How long a stream may wait for its client to take what it holds (`http.slowReaderTimeout`).
    public var slowReaderTimeout = TimeAmount.seconds(30)
    /// How long an upstream connection with no stream stays open.
    public var upstreamIdleTimeout = TimeAmount.seconds(60)

    public init() {}

    /// `maxHeaderListSize`: the decoded size a header block may have (the HTTP/1 head limit).
    func configuration(maxHeaderListSize: Int) -> NIOHTTP2Handler.Configuration {
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: maxConcurrentStreams),
            HTTP2Setting(parameter: .initialWindowSize, value: streamWindow),
            HTTP2Setting(parameter: .maxHeaderListSize, value: maxHeaderListSize),
            HTTP2Setting(parameter: .enablePush, value: 0),
        ]
        connection.targetWindowSize = connectionWindow
        connection.maximumSequentialContinuationFrames = maxContinuationFrames
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = streamWindow
        stream.streamResetFrameRateLimit.maximumCount = maxResets
        stream.streamResetFrameRateLimit.windowLength = resetWindow
        stream.streamErrorRateLimit.maximumCount = maxResets
        stream.streamErrorRateLimit.windowLength = resetWindow
        // A stream's outbound buffer before it reads as not writable (then its source stops reading).
        stream.outboundBufferSizeHighWatermark = 64 * 1024
        stream.outboundBufferSizeLowWatermark = 16 * 1024
        return NIOHTTP2Handler.Configuration(connection: connection, stream: stream)
    }
}
