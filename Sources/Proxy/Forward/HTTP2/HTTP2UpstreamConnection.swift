import NIOCore
import NIOHTTP2
import Routing

/// One HTTP/2 connection to an upstream and the streams it carries: how many are open or reserved, how many
/// the peer allows, and whether it is going away. Closed when it has had no stream for the pool's idle timeout.
final class HTTP2UpstreamConnection {
    let address: SocketAddress
    /// Weak: at shutdown the loop's pool may go before its connections' last callbacks.
    private weak var pool: HTTP2UpstreamPool?
    /// The service's breaker count this connection holds a place in.
    private let limit: ServiceConnections?
    var multiplexer: NIOHTTP2Handler.StreamMultiplexer?
    private var channel: (any Channel)?
    /// Streams open or about to be.
    private(set) var streams = 0
    /// The peer's `SETTINGS_MAX_CONCURRENT_STREAMS`; 100 until it says (RFC 9113 recommends no less).
    private var maxStreams = 100
    private var goingAway = false
    private var closed = false
    /// Streams that wait for the connect.
    private var pendingOpens: [(HTTP2UpstreamStreamHandler, EventLoopPromise<any Channel>)] = []
    /// One timer for the connection's idle checks (not one per stream that ends): it fires at
    /// `idleSince + idleTimeout` and closes the connection if no stream came meanwhile.
    private var idleTimer: Scheduled<Void>?
    private var idleSince = NIODeadline.distantFuture

    private let eventLoop: any EventLoop
    private let idleTimeout: TimeAmount

    init(address: SocketAddress, pool: HTTP2UpstreamPool, limit: ServiceConnections?) {
        self.address = address
        self.pool = pool
        eventLoop = pool.eventLoop
        idleTimeout = pool.idleTimeout
        self.limit = limit
    }

    var hasRoom: Bool { !goingAway && !closed && streams < maxStreams }

    func reserve() {
        streams += 1
        idleSince = .distantFuture
    }

    /// A new stream carrying `handler`, once the connection is up; fails if it never comes up.
    func openStream(_ handler: HTTP2UpstreamStreamHandler) -> EventLoopFuture<any Channel> {
        let promise = eventLoop.makePromise(of: (any Channel).self)
        if closed {
            promise.fail(ChannelError.ioOnClosedChannel)
            release()
        } else if channel == nil {
            pendingOpens.append((handler, promise))
        } else {
            create(handler, promise)
        }
        return promise.futureResult
    }

    private func create(_ handler: HTTP2UpstreamStreamHandler, _ promise: EventLoopPromise<any Channel>) {
        guard let multiplexer else { return promise.fail(ChannelError.ioOnClosedChannel) }
        let handler = NIOLoopBound(handler, eventLoop: eventLoop)
        multiplexer.createStreamChannel(promise: promise) { stream in
            stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(handler.value) }
        }
        promise.futureResult.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let stream): stream.closeFuture.assumeIsolated().whenComplete { _ in self.release() }
            case .failure: self.release()
            }
        }
    }

    /// A stream ended (or never opened): an idle connection closes after the pool's idle timeout.
    private func release() {
        streams -= 1
        guard streams == 0, channel != nil, !closed else { return }
        idleSince = .now()
        if idleTimer == nil { scheduleIdleCheck(at: idleSince + idleTimeout) }
    }

    private func scheduleIdleCheck(at deadline: NIODeadline) {
        idleTimer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            idleTimer = nil
            guard streams == 0, !closed, let channel else { return }
            let due = idleSince + idleTimeout
            guard due <= .now() else { return scheduleIdleCheck(at: due) }
            goingAway = true
            pool?.remove(self)
            channel.close(promise: nil)
        }
    }

    func opened(_ channel: any Channel) {
        self.channel = channel
        channel.closeFuture.assumeIsolated().whenComplete { _ in self.ended() }
        let opens = pendingOpens
        pendingOpens = []
        for (handler, promise) in opens { create(handler, promise) }
    }

    func failed(_ error: any Error) {
        ended()
        let opens = pendingOpens
        pendingOpens = []
        for (_, promise) in opens {
            promise.fail(error)
            release()
        }
    }

    private func ended() {
        guard !closed else { return }
        closed = true
        idleTimer?.cancel()
        pool?.remove(self)
        limit?.closed()
    }

    /// Reads the connection's own frames: the peer's stream limit, and GOAWAY.
    final class Watcher: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame

        private let connection: HTTP2UpstreamConnection

        init(_ connection: HTTP2UpstreamConnection) { self.connection = connection }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data).payload {
            case .settings(.settings(let settings)):
                for setting in settings where setting.parameter == .maxConcurrentStreams {
                    connection.maxStreams = setting.value
                }
            case .goAway:
                // Streams under way finish (or fail and are retried); new ones go to another connection.
                connection.goingAway = true
                connection.pool?.remove(connection)
            default:
                break
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
