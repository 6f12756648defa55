import Logging
import NIOCore
import Synchronization

/// Counters shared by every listener of one server (atomics: no lock per query).
final class DNSServerMetrics: Sendable {
    private let malformed = Atomic<Int>(0)
    private let local = Atomic<Int>(0)
    private let forwarded = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)

    var malformedQueries: Int { malformed.load(ordering: .relaxed) }

    /// By kind: `virtual-ip` (answered by Mesher), `forwarded`, `failed` (SERVFAIL), `malformed` (dropped).
    var answers: [String: Int] {
        [
            "virtual-ip": local.load(ordering: .relaxed), "forwarded": forwarded.load(ordering: .relaxed),
            "failed": failed.load(ordering: .relaxed), "malformed": malformed.load(ordering: .relaxed),
        ]
    }

    func recordMalformedQuery() {
        malformed.add(1, ordering: .relaxed)
    }

    func recordLocalAnswer() { local.add(1, ordering: .relaxed) }
    func recordForwarded() { forwarded.add(1, ordering: .relaxed) }
    func recordFailure() { failed.add(1, ordering: .relaxed) }
}

/// Everything a query goes through apart from its transport: decode, answer or forward, and SERVFAIL
/// when no upstream answers.
struct DNSQueryProcessor: Sendable {
    let responder: DNSQueryResponder
    let forwarder: DNSForwarder
    let metrics: DNSServerMetrics
    let logger: Logger

    /// The reply for the client, or nil when the packet is not a DNS query and must be dropped.
    func reply(to packet: ByteBuffer, over transport: DNSTransport, on eventLoop: any EventLoop)
        -> EventLoopFuture<ByteBuffer>?
    {
        let query: DNSMessage
        do {
            query = try DNSMessage(decoding: packet)
            // Answering or forwarding a response could bounce packets between resolvers forever.
            guard !query.flags.isResponse else { throw DNSMessageError.notAQuery }
        } catch {
            metrics.recordMalformedQuery()
            logger.debug(
                "dropping malformed DNS packet",
                metadata: [
                    "transport": "\(transport.rawValue)", "bytes": "\(packet.readableBytes)", "error": "\(error)",
                ])
            return nil
        }

        let question = query.questions.first
        if let response = responder.localResponse(to: query) {
            logger.debug(
                "DNS query answered",
                metadata: [
                    "name": "\(question?.name.description ?? "")", "type": "\(question?.type.rawValue ?? 0)",
                    "answers": "\(response.answers.count)", "transport": "\(transport.rawValue)",
                ])
            metrics.recordLocalAnswer()
            return eventLoop.makeSucceededFuture(response.encoded)
        }

        logger.debug(
            "DNS query forwarded",
            metadata: [
                "name": "\(question?.name.description ?? "")", "type": "\(question?.type.rawValue ?? 0)",
                "questions": "\(query.questions.count)", "transport": "\(transport.rawValue)",
            ])
        let metrics = self.metrics
        return forwarder.forward(packet, id: query.id, over: transport, on: eventLoop).map { reply in
            metrics.recordForwarded()
            return reply
        }.recover { _ in
            metrics.recordFailure()
            return Self.serverFailure(to: query)
        }
    }

    /// SERVFAIL for `query`, echoing its questions unless that would not fit in a DNS message (64 KiB, a TCP
    /// frame): names that were pointers in a query are written out once the reply is past the 16 KiB that
    /// pointers reach, so a 22 KB query of many questions can need a reply above 64 KiB.
    static func serverFailure(to query: DNSMessage) -> ByteBuffer {
        var failure = DNSMessage.response(to: query, code: .serverFailure, authoritative: false)
        let encoded = failure.encoded
        guard encoded.readableBytes > DNSMessage.maxLength else { return encoded }
        failure.questions = []
        return failure.encoded
    }
}
