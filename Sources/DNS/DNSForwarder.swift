import Limits
import Logging
import MesherBase
import NIOCore
import NIOPosix
import Synchronization

enum DNSTransport: String, Sendable {
    case udp
    case tcp
}

enum DNSForwardingError: Error {
    case noUpstreams
    case timeout
    case connectionClosed
    /// `maxForwards` queries are already being forwarded: answered SERVFAIL without opening a socket.
    case limitReached
}

/// The warnings a flood of queries could repeat for every packet: each said at most once per 10 s.
public enum DNSWarning: Hashable, Sendable {
    case upstreamFailed
    case forwardLimitReached
}

/// Forwards in flight, shared by every listener (UDP and TCP) and event loop of one server: each holds a
/// socket until its upstream answers or times out, so without a cap a flood of queries to an upstream that
/// never answers would take every descriptor Mesher has.
final class DNSForwardSlots: Sendable {
    let limit: Int
    private let inUse = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    var count: Int { inUse.load(ordering: .relaxed) }

    /// Takes a slot unless all are taken; never goes above the limit, even for a moment.
    func acquire() -> Bool {
        var current = inUse.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = inUse.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func release() {
        inUse.subtract(1, ordering: .relaxed)
    }
}

/// Relays a query's original bytes to the upstream resolvers, one at a time in order, over the transport
/// the client used. Every exchange has its own socket: a fresh source port per query (harder to spoof a
/// reply), and no reply matching across clients. At most `slots.limit` queries are forwarded at once.
struct DNSForwarder: Sendable {
    /// UDP replies can be up to 64 KiB with EDNS; a smaller buffer would silently cut them.
    static let maxUDPReplySize = 65_535

    let upstreams: [SocketAddress]
    let timeout: TimeAmount
    let socketMark: UInt32?
    let slots: DNSForwardSlots
    let warnings: RateLimitedLog<DNSWarning>
    let logger: Logger
    private static let soMark = NIOBSDSocket.Option(rawValue: SocketMark.option)

    /// The first upstream reply, unchanged; fails when no upstream answers.
    func forward(_ query: ByteBuffer, id: UInt16, over transport: DNSTransport, on eventLoop: any EventLoop)
        -> EventLoopFuture<ByteBuffer>
    {
        guard !upstreams.isEmpty else { return eventLoop.makeFailedFuture(DNSForwardingError.noUpstreams) }
        guard slots.acquire() else {
            warnings.log(
                .forwardLimitReached, "DNS forward limit reached: answering SERVFAIL",
                metadata: ["maxForwards": "\(slots.limit)", "transport": "\(transport.rawValue)"], to: logger)
            return eventLoop.makeFailedFuture(DNSForwardingError.limitReached)
        }
        let reply = forward(query, id: id, over: transport, on: eventLoop, upstreamIndex: 0)
        reply.whenComplete { _ in slots.release() }
        return reply
    }

    private func forward(
        _ query: ByteBuffer, id: UInt16, over transport: DNSTransport, on eventLoop: any EventLoop, upstreamIndex: Int
    ) -> EventLoopFuture<ByteBuffer> {
        let upstream = upstreams[upstreamIndex]
        return exchange(query, id: id, with: upstream, over: transport, on: eventLoop).flatMapError { error in
            warnings.log(
                .upstreamFailed, "DNS upstream failed",
                metadata: ["upstream": "\(upstream)", "transport": "\(transport.rawValue)", "error": "\(error)"],
                to: logger)
            let next = upstreamIndex + 1
            guard next < upstreams.count else { return eventLoop.makeFailedFuture(error) }
            return forward(query, id: id, over: transport, on: eventLoop, upstreamIndex: next)
        }
    }

    private func exchange(
        _ query: ByteBuffer, id: UInt16, with upstream: SocketAddress, over transport: DNSTransport,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<ByteBuffer> {
        let reply = eventLoop.makePromise(of: ByteBuffer.self)
        let deadline = eventLoop.scheduleTask(in: timeout) { reply.fail(DNSForwardingError.timeout) }
        reply.futureResult.whenComplete { _ in deadline.cancel() }

        let connected: EventLoopFuture<any Channel>
        switch transport {
        case .udp:
            // Connected, so the kernel drops datagrams from other sources and reports ICMP port unreachable
            // as an error instead of leaving us to wait for the timeout.
            var bootstrap = DatagramBootstrap(group: eventLoop)
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Self.maxUDPReplySize))
            if let socketMark {
                bootstrap = bootstrap.channelOption(.socketOption(Self.soMark), value: Int(socketMark))
            }
            connected =
                bootstrap
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            DNSUpstreamReplyHandler<AddressedEnvelope<ByteBuffer>>(expectedID: id, reply: reply))
                    }
                }
                .connect(to: upstream)
        case .tcp:
            var bootstrap = ClientBootstrap(group: eventLoop).connectTimeout(timeout)
            if let socketMark {
                bootstrap = bootstrap.channelOption(.socketOption(Self.soMark), value: Int(socketMark))
            }
            connected =
                bootstrap
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers(
                            DNSTCPFraming.decoder(), DNSTCPFraming.prepender(),
                            DNSUpstreamReplyHandler<ByteBuffer>(expectedID: id, reply: reply))
                    }
                }
                .connect(to: upstream)
        }

        connected.whenComplete { result in
            switch result {
            case .success(let channel):
                // Also closes a channel that connects after the deadline has already passed.
                reply.futureResult.whenComplete { _ in channel.close(promise: nil) }
                channel.writeAndFlush(query).whenFailure { reply.fail($0) }
            case .failure(let error):
                reply.fail(error)
            }
        }
        return reply.futureResult
    }
}
