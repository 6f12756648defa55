import Logging
import NIOCore
import NIOPosix
import Testing

@testable import DNS

/// The server end to end on 127.0.0.1, with a fake upstream resolver where forwarding is involved.
@Suite struct DNSServerTests {
    private func startServer(
        addresses: [String] = ["127.0.0.1"], upstreams: [SocketAddress] = [], forwardTimeout: TimeAmount = .seconds(2),
        tcpIdleTimeout: TimeAmount = .seconds(10)
    ) throws -> DNSServer {
        var logger = Logger(label: "dns-test")
        logger.logLevel = .debug
        var configuration = DNSServerConfiguration(
            addresses: addresses, port: 0, upstreams: upstreams, forwardTimeout: forwardTimeout,
            searchDomains: TestData.searchDomains)
        configuration.tcpIdleTimeout = tcpIdleTimeout
        return try DNSServer.start(
            configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: logger,
            lookup: TestData.lookup)
    }

    private func address(of server: DNSServer) throws -> SocketAddress {
        try #require(server.localAddresses.first)
    }

    /// A UDP port nothing listens on: bound, then closed again.
    private func closedPort() async throws -> SocketAddress {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let address = try #require(channel.localAddress)
        try await channel.close()
        return address
    }

    @Test func answersOwnedNameOverUDP() async throws {
        let server = try startServer()
        defer { server.close() }

        let reply = try DNSMessage(
            decoding: try await DNSTestClient.queryUDP(
                ByteBuffer(bytes: TestData.digAccountServiceQuery), server: try address(of: server)))

        #expect(reply.id == 0x3419)
        #expect(reply.flags.isResponse)
        #expect(reply.flags.isAuthoritative)
        #expect(reply.flags.responseCode == .noError)
        // The question comes back with dig's letter case.
        #expect(reply.questions.first?.name.description == "AccountService.default.svc.cluster.local")
        #expect(reply.answers.map(\.type) == [.a])
        #expect(reply.answers.map(\.ttl) == [5])
        #expect(reply.answers.map(\.data) == [TestData.accountServiceIPv4])
    }

    @Test func answersSeveralQueriesOnOneTCPConnection() async throws {
        let upstream = try await FakeUpstream.start()
        let server = try startServer(upstreams: [upstream.address])
        defer { server.close() }

        let queries = [
            try TestData.query(id: 1, name: "accountservice", type: .a).encoded,
            try TestData.query(id: 2, name: "accountservice.default.svc.cluster.local", type: .aaaa).encoded,
            ByteBuffer(bytes: TestData.digExampleTestQuery),
        ]
        let replies = try await DNSTestClient.exchangeTCP(queries, with: try address(of: server), replies: 3)
            .map { try DNSMessage(decoding: $0) }
        // Replies may come in any order (RFC 7766); the id tells them apart.
        let answersByID = Dictionary(uniqueKeysWithValues: replies.map { ($0.id, $0.answers.map(\.data)) })

        #expect(
            answersByID == [
                1: [TestData.accountServiceIPv4], 2: [TestData.accountServiceIPv6], 0x166F: [TestData.upstreamIPv4],
            ])
        // The forwarded query went over TCP, byte for byte as the client sent it.
        #expect(upstream.receivedPackets == [ByteBuffer(bytes: TestData.digExampleTestQuery)])
        try await upstream.close()
    }

    @Test func halfClosedTCPClientStillGetsItsForwardedReply() async throws {
        let upstream = try await FakeUpstream.start()
        let server = try startServer(upstreams: [upstream.address])
        defer { server.close() }
        let query = try TestData.query(id: 31, name: "example.test", type: .a).encoded

        let replies = try await DNSTestClient.exchangeTCP(
            [query], with: try address(of: server), replies: 1, halfClose: true)

        #expect(replies == [FakeUpstream.response(to: query)])
        try await upstream.close()
    }

    /// The last query is cut off by the half-close: it is dropped, and the forwarded one before it still answered.
    @Test func halfCloseInTheMiddleOfAQueryStillGetsTheReplyInFlight() async throws {
        let upstream = try await FakeUpstream.start()
        let server = try startServer(upstreams: [upstream.address])
        defer { server.close() }
        let query = try TestData.query(id: 32, name: "example.test", type: .a).encoded

        let replies = try await DNSTestClient.exchangeTCP(
            [query], trailing: [0, 40, 0x12, 0x34], with: try address(of: server), replies: 1, halfClose: true)

        #expect(replies == [FakeUpstream.response(to: query)])
        #expect(upstream.receivedPackets == [query])
        try await upstream.close()
    }

    @Test func forwardsOtherNamesAndRelaysTheUpstreamReplyUnchanged() async throws {
        let upstream = try await FakeUpstream.start()
        let server = try startServer(upstreams: [upstream.address])
        defer { server.close() }
        let query = ByteBuffer(bytes: TestData.digExampleTestQuery)

        let reply = try await DNSTestClient.queryUDP(query, server: try address(of: server))

        #expect(upstream.receivedPackets == [query])
        #expect(reply == FakeUpstream.response(to: query))
        #expect(try DNSMessage(decoding: reply).answers.map(\.ttl) == [TestData.upstreamTTL])
        try await upstream.close()
    }

    @Test func queriesWithSeveralQuestionsAreForwarded() async throws {
        let upstream = try await FakeUpstream.start()
        let server = try startServer(upstreams: [upstream.address])
        defer { server.close() }
        var query = try TestData.query(id: 77, name: "accountservice", type: .a)
        query.questions.append(query.questions[0])

        let reply = try await DNSTestClient.queryUDP(query.encoded, server: try address(of: server))

        #expect(upstream.receivedPackets == [query.encoded])
        #expect(try DNSMessage(decoding: reply).answers.map(\.data) == [TestData.upstreamIPv4])
        try await upstream.close()
    }

    @Test func triesTheNextUpstreamWhenOneDoesNotAnswer() async throws {
        // Bound but never answering.
        let silent = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let upstream = try await FakeUpstream.start()
        let server = try startServer(
            upstreams: [try #require(silent.localAddress), upstream.address], forwardTimeout: .milliseconds(200))
        defer { server.close() }

        let query = try TestData.query(id: 42, name: "example.test", type: .a).encoded
        let reply = try await DNSTestClient.queryUDP(query, server: try address(of: server))

        #expect(try DNSMessage(decoding: reply).answers.map(\.data) == [TestData.upstreamIPv4])
        try await upstream.close()
        try await silent.close()
    }

    @Test func answersServerFailureWhenNoUpstreamAnswers() async throws {
        let server = try startServer(upstreams: [try await closedPort()], forwardTimeout: .milliseconds(500))
        defer { server.close() }
        let query = try TestData.query(id: 0x5E4F, name: "example.test", type: .a).encoded

        let overUDP = try DNSMessage(decoding: try await DNSTestClient.queryUDP(query, server: try address(of: server)))
        let overTCP = try await DNSTestClient.exchangeTCP([query], with: try address(of: server), replies: 1)
            .map { try DNSMessage(decoding: $0) }

        for reply in [overUDP] + overTCP {
            #expect(reply.id == 0x5E4F)
            #expect(reply.flags.responseCode == .serverFailure)
            #expect(reply.answers.isEmpty)
            #expect(reply.questions.first?.name.description == "example.test")
        }
        #expect(overTCP.count == 1)
    }

    @Test func withoutUpstreamsOtherNamesGetServerFailure() async throws {
        let server = try startServer()
        defer { server.close() }
        let query = try TestData.query(id: 3, name: "example.test", type: .a).encoded
        let reply = try await DNSTestClient.queryUDP(query, server: try address(of: server))
        #expect(try DNSMessage(decoding: reply).flags.responseCode == .serverFailure)
    }

    @Test func malformedPacketsAreCountedAndDropped() async throws {
        let server = try startServer()
        defer { server.close() }
        let valid = try TestData.query(id: 9, name: "accountservice", type: .a).encoded
        let garbage = ByteBuffer(bytes: [0x01, 0x02, 0x03])

        // Datagrams on one socket are handled in order: once the valid one is answered the garbage was seen.
        let udpReplies = try await DNSTestClient.exchangeUDP(
            [garbage, valid], with: try address(of: server), replies: 1)
        #expect(try udpReplies.map { try DNSMessage(decoding: $0).id } == [9])
        #expect(server.malformedQueries == 1)

        // Over TCP the connection is closed without a reply.
        let tcpReplies = try await DNSTestClient.exchangeTCP(
            [garbage, valid], with: try address(of: server), replies: 1)
        #expect(tcpReplies.isEmpty)
        #expect(server.malformedQueries == 2)

        // A response sent to the server is not a query either.
        var response = try DNSMessage(decoding: valid)
        response.flags.isResponse = true
        _ = try await DNSTestClient.exchangeUDP([response.encoded, valid], with: try address(of: server), replies: 1)
        #expect(server.malformedQueries == 3)
    }

    @Test func closeEndsOpenTCPConnections() async throws {
        let server = try startServer()
        let serverAddress = try address(of: server)
        let query = try TestData.query(id: 5, name: "accountservice", type: .a).encoded

        let endedAfterClose = try await withTimeout {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(to: serverAddress) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return try await channel.executeThenClose { inbound, outbound in
                var request = ByteBuffer()
                request.writeInteger(UInt16(query.readableBytes))
                request.writeImmutableBuffer(query)
                try await outbound.write(request)
                var chunks = inbound.makeAsyncIterator()
                _ = try await chunks.next()  // the answer: the connection is established and served
                server.close()
                return try await chunks.next() == nil
            }
        }
        #expect(endedAfterClose)
    }

    @Test func silentTCPClientIsClosedAfterTheIdleTimeout() async throws {
        let server = try startServer(tcpIdleTimeout: .milliseconds(200))
        defer { server.close() }
        let serverAddress = try address(of: server)
        let closedByServer = try await withTimeout {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(to: serverAddress) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return try await channel.executeThenClose { inbound, _ in
                var chunks = inbound.makeAsyncIterator()
                return try await chunks.next() == nil
            }
        }
        #expect(closedByServer)
    }

    @Test func skipsAddressesTheHostLacks() throws {
        // 192.0.2.1 (documentation range) is not configured on this host.
        let server = try startServer(addresses: ["192.0.2.1", "127.0.0.1"])
        defer { server.close() }
        #expect(server.localAddresses.map(\.ipAddress) == ["127.0.0.1"])

        #expect(throws: (any Error).self) { try startServer(addresses: ["192.0.2.1"]) }
        #expect(throws: (any Error).self) { try startServer(addresses: []) }
    }

    @Test func listensOnEveryAddressWithOnePort() throws {
        // ::1 is skipped where the host has no IPv6; 127.0.0.1 is always there.
        let server = try startServer(addresses: ["127.0.0.1", "::1"])
        defer { server.close() }
        let addresses = server.localAddresses
        #expect(addresses.first?.ipAddress == "127.0.0.1")
        #expect(Set(addresses.compactMap(\.port)).count == 1)
    }
}
