import Dispatch
import Limits
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import DNS

/// Finding F5: every forwarded query holds a socket of its own until its upstream answers or 2 s pass, so a
/// flood towards an upstream that never answers took every descriptor and logged a line per failure. Now
/// at most `maxForwards` are in flight (UDP and TCP together), the rest are answered SERVFAIL at once, and
/// the warnings are rate-limited.
@Suite struct DNSForwardLimitTests {
    let logs = LogRecorder()

    private func startServer(
        upstream: SocketAddress, maxForwards: Int, forwardTimeout: TimeAmount = .seconds(3),
        warnings: RateLimitedLog<DNSWarning> = RateLimitedLog()
    ) throws -> DNSServer {
        let configuration = DNSServerConfiguration(
            addresses: ["127.0.0.1"], port: 0, upstreams: [upstream], forwardTimeout: forwardTimeout,
            searchDomains: TestData.searchDomains, maxForwards: maxForwards)
        return try DNSServer.start(
            configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: logs.logger,
            warnings: warnings, lookup: TestData.lookup)
    }

    private func queries(_ ids: Range<Int>) throws -> [ByteBuffer] {
        try ids.map { try TestData.query(id: UInt16($0), name: "host\($0).example.test", type: .a).encoded }
    }

    /// Polls for up to `seconds`.
    private func eventually(_ seconds: Double = 5, _ condition: () -> Bool) async throws -> Bool {
        for _ in 0..<Int(seconds * 20) {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    @Test func queriesBeyondTheCapAreAnsweredServerFailureAtOnce() async throws {
        let upstream = try await SilentUpstream.start()
        let server = try startServer(upstream: upstream.address, maxForwards: 4)
        defer { server.close() }
        let address = try #require(server.localAddresses.first)

        let started = DispatchTime.now()
        let replies = try await DNSTestClient.exchangeUDP(try queries(1..<11), with: address, replies: 6)
            .map { try DNSMessage(decoding: $0) }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9

        #expect(elapsed < 2.5, "not after the 3 s forward timeout: \(elapsed) s")
        #expect(replies.allSatisfy { $0.flags.responseCode == .serverFailure })
        #expect(Set(replies.map(\.id)).count == 6)
        #expect(server.forwardsInFlight == 4)
        #expect(try await eventually { upstream.received == 4 })
        #expect(upstream.received == 4, "no socket opened beyond the cap")
        // A fresh socket, and so a fresh source port, per forwarded query.
        #expect(Set(upstream.udpSources.compactMap(\.port)).count == 4)

        // Once they time out the slots are free again.
        #expect(try await eventually { server.forwardsInFlight == 0 })
        try await DNSTestClient.sendUDP(try queries(20..<21), to: address)
        #expect(try await eventually { upstream.received == 5 })
        try await upstream.close()
    }

    @Test func theCapIsSharedByUDPAndTCPAndServiceNamesStillAnswer() async throws {
        let upstream = try await SilentUpstream.start()
        let server = try startServer(upstream: upstream.address, maxForwards: 2)
        defer { server.close() }
        let address = try #require(server.localAddresses.first)

        try await DNSTestClient.sendUDP(try queries(1..<3), to: address)
        #expect(try await eventually { server.forwardsInFlight == 2 })
        let overTCP = try await DNSTestClient.exchangeTCP(try queries(3..<4), with: address, replies: 1)
            .map { try DNSMessage(decoding: $0) }
        #expect(overTCP.map(\.flags.responseCode) == [.serverFailure])
        #expect(upstream.tcpConnections == 0)

        let service = try DNSMessage(
            decoding: try await DNSTestClient.queryUDP(
                try TestData.query(id: 99, name: "accountservice", type: .a).encoded, server: address))
        #expect(service.answers.map(\.data) == [TestData.accountServiceIPv4])
        try await upstream.close()
    }

    /// Many clients at once, over UDP and TCP, on the server's several event loops: exactly `maxForwards`
    /// reach the upstream, every query is answered (SERVFAIL, at once or after the timeout), and the count
    /// returns to zero.
    @Test func theCountIsExactUnderConcurrency() async throws {
        let upstream = try await SilentUpstream.start()
        let server = try startServer(upstream: upstream.address, maxForwards: 25, forwardTimeout: .seconds(3))
        defer { server.close() }
        let address = try #require(server.localAddresses.first)

        let replies = try await withThrowingTaskGroup(of: [ByteBuffer].self) { group in
            for client in 0..<8 {
                let batch = try queries(client * 20..<client * 20 + 20)
                group.addTask {
                    client % 2 == 0
                        ? try await DNSTestClient.exchangeTCP(batch, with: address, replies: 20, halfClose: true)
                        : try await DNSTestClient.exchangeUDP(batch, with: address, replies: 20)
                }
            }
            return try await group.reduce([], +)
        }
        #expect(replies.count == 160)
        #expect(try replies.allSatisfy { try DNSMessage(decoding: $0).flags.responseCode == .serverFailure })
        #expect(upstream.received == 25, "udp \(upstream.udpSources.count), tcp \(upstream.tcpConnections)")
        #expect(try await eventually { server.forwardsInFlight == 0 })
        try await upstream.close()
    }

    @Test func warningsAreRateLimitedWithACountOfWhatWasLeftOut() async throws {
        let upstream = try await SilentUpstream.start()
        let clock = FakeMonotonicClock()
        let server = try startServer(
            upstream: upstream.address, maxForwards: 3, forwardTimeout: .milliseconds(200),
            warnings: RateLimitedLog(now: clock.source))
        defer { server.close() }
        let address = try #require(server.localAddresses.first)

        for round in 0..<3 {
            _ = try await DNSTestClient.exchangeUDP(
                try queries(round * 30..<round * 30 + 30), with: address, replies: 30)
        }
        #expect(logs.count("DNS upstream failed") == 1, "\(logs.text)")
        #expect(logs.count("DNS forward limit reached") == 1, "\(logs.text)")
        // Every reply is in, so every forward ended: those failed, all others were refused.
        let forwarded = upstream.received
        #expect(forwarded >= 9 && forwarded < 90)

        clock.advance(seconds: 10)
        _ = try await DNSTestClient.exchangeUDP(try queries(100..<130), with: address, replies: 30)
        let lines = logs.lines.withLock { $0 }
        let failed = lines.filter { $0.contains("DNS upstream failed") }
        let refused = lines.filter { $0.contains("DNS forward limit reached") }
        #expect(failed.count == 2 && refused.count == 2, "\(logs.text)")
        // Each second line counts what its kind left out since the first.
        #expect(failed.last?.contains("suppressed=\(forwarded - 1) ") == true, "\(forwarded): \(logs.text)")
        #expect(refused.last?.contains("suppressed=\(90 - forwarded - 1) ") == true, "\(forwarded): \(logs.text)")
        #expect(lines.count <= 6, "\(logs.text)")
        try await upstream.close()
    }
}

struct RateLimitedLogTests {
    enum Kind { case a, b }

    @Test func oneLinePerKindPerIntervalWithTheCountLeftOut() {
        let clock = FakeMonotonicClock()
        let log = RateLimitedLog<Kind>(intervalSeconds: 10, now: clock.source)
        #expect(log.admit(.a) == 0)
        #expect(log.admit(.a) == nil)
        #expect(log.admit(.a) == nil)
        #expect(log.admit(.b) == 0, "kinds are counted apart")
        clock.advance(seconds: 9.9)
        #expect(log.admit(.a) == nil)
        clock.advance(seconds: 0.1)
        #expect(log.admit(.a) == 3)
        #expect(log.admit(.a) == nil)
        #expect(log.admit(.b) == 0)
    }

    @Test func logAddsTheCount() {
        let clock = FakeMonotonicClock()
        let log = RateLimitedLog<Kind>(now: clock.source)
        let logs = LogRecorder()
        for _ in 0..<5 { log.log(.a, "upstream failed", metadata: ["x": "1"], to: logs.logger) }
        clock.advance(seconds: 10)
        log.log(.a, "upstream failed", to: logs.logger)
        #expect(logs.lines.withLock { $0 } == ["warning upstream failed x=1", "warning upstream failed suppressed=4"])
    }
}
