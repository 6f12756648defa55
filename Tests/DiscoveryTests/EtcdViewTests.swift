import Foundation
import HTTPClients
import Logging
import NIOPosix
import Testing

@testable import Discovery

/// The etcd view is replaced only by a real answer of etcd: a failed read, or JSON that is not a range
/// reply, leaves the last view in place; a watch that etcd cancels makes Mesher read everything again.
@Suite struct EtcdViewTests {
    let logs = LogRecorder()

    /// For the whole test run: AsyncHTTPClient traps on a client released without a shutdown.
    static let client = MesherHTTPClient(group: MultiThreadedEventLoopGroup.singleton)

    func registry(_ etcd: FakeEtcd) throws -> EtcdRegistry {
        EtcdRegistry(
            endpoints: [etcd.endpoint], prefix: "/mesher/",
            transport: try EtcdHTTPTransport(client: Self.client, tls: nil),
            group: MultiThreadedEventLoopGroup.singleton, logger: logs.logger)
    }

    /// Polls for up to `seconds`.
    func eventually(_ seconds: Double = 5, _ condition: () -> Bool) async throws -> Bool {
        for _ in 0..<Int(seconds * 20) {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    static let good = FakeEtcd.Reply(body: FakeEtcd.rangeBody(revision: 5, [FakeEtcd.instance("198.18.0.2", 8080)]))

    @Test(arguments: [
        FakeEtcd.Reply(body: "{}"),
        FakeEtcd.Reply(body: #"{"kvs":[]}"#),
        FakeEtcd.Reply(body: #"{"code":14,"message":"etcdserver: no leader"}"#),
        FakeEtcd.Reply(body: "<html>bad gateway</html>"),
        FakeEtcd.Reply(status: .internalServerError, body: #"{"error":"boom"}"#),
        FakeEtcd.Reply(body: "", hangUp: true),
        // A valid range reply, but over the 4 MiB bound: not read to its end.
        FakeEtcd.Reply(body: FakeEtcd.rangeBody(revision: 6, []) + String(repeating: " ", count: 4 << 20)),
    ])
    func badReadKeepsTheView(_ bad: FakeEtcd.Reply) async throws {
        let etcd = try await FakeEtcd.start(range: Self.good)
        let registry = try registry(etcd)
        registry.start()
        defer { registry.stop() }
        #expect(try await eventually { registry.snapshot.instances(of: "AccountService").count == 1 })
        // The watch that follows the first read is open: what the fake does next reaches it.
        #expect(try await eventually { etcd.watchRequests == 1 })

        // The watch ends (etcd restarting, say) and the next reads are no answer.
        etcd.setRange(bad)
        let requests = etcd.rangeRequests
        etcd.endWatches()
        #expect(try await eventually { etcd.rangeRequests >= requests + 2 }, "read again, and retried")
        #expect(registry.snapshot.instances(of: "AccountService").map(\.port) == [8080], "\(logs.text)")

        // A real answer replaces the view again.
        etcd.setRange(.init(body: FakeEtcd.rangeBody(revision: 9, [FakeEtcd.instance("198.18.0.3", 9090)])))
        #expect(try await eventually { registry.snapshot.instances(of: "AccountService").map(\.port) == [9090] })
        try await etcd.close()
    }

    /// Pages that never move past their first key (no etcd sends them): the read fails and is retried, it does
    /// not go on for ever, and the view stays.
    @Test func rangeThatNeverEndsIsNoAnswer() async throws {
        let etcd = try await FakeEtcd.start(range: Self.good)
        let registry = try registry(etcd)
        registry.start()
        defer { registry.stop() }
        #expect(try await eventually { etcd.watchRequests == 1 })
        etcd.setRange(.init(body: FakeEtcd.rangeBody(revision: 7, [FakeEtcd.instance("198.18.0.3", 9090)], more: true)))
        let requests = etcd.rangeRequests
        etcd.endWatches()
        #expect(try await eventually { etcd.rangeRequests >= requests + 4 }, "read again, and retried")
        #expect(registry.snapshot.instances(of: "AccountService").map(\.port) == [8080], "\(logs.text)")
        // Two requests a read (the first page, and the one that does not move), reads 200 ms or more apart.
        let later = etcd.rangeRequests
        try await Task.sleep(for: .milliseconds(300))
        #expect(etcd.rangeRequests - later <= 4, "\(etcd.rangeRequests - later) requests in 300 ms")
        try await etcd.close()
    }

    /// An empty range that is etcd's answer (a real revision, no keys) is an empty registry.
    @Test func emptyAnswerEmptiesTheView() async throws {
        let etcd = try await FakeEtcd.start(range: Self.good)
        let registry = try registry(etcd)
        registry.start()
        defer { registry.stop() }
        #expect(try await eventually { registry.snapshot.instances(of: "AccountService").count == 1 })
        // The watch that follows the first read is open: what the fake does next reaches it.
        #expect(try await eventually { etcd.watchRequests == 1 })
        etcd.setRange(.init(body: FakeEtcd.rangeBody(revision: 7, [])))
        etcd.endWatches()
        #expect(try await eventually { registry.snapshot.instances(of: "AccountService").isEmpty })
        try await etcd.close()
    }

    /// A record at an address of no single host (0.0.0.0 would send every consumer into its own Mesher) is
    /// skipped with a log line, as other records that are no instance are.
    @Test func recordsForNoSingleHostAreSkipped() async throws {
        let records = [
            FakeEtcd.instance("0.0.0.0", 15000), FakeEtcd.instance("198.18.0.2", 8080), FakeEtcd.instance("::", 15000),
            FakeEtcd.instance("224.0.0.1", 8080),
        ]
        let etcd = try await FakeEtcd.start(range: .init(body: FakeEtcd.rangeBody(revision: 5, records)))
        let registry = try registry(etcd)
        registry.start()
        defer { registry.stop() }
        #expect(try await eventually { registry.snapshot.instances(of: "AccountService").count == 1 })
        #expect(registry.snapshot.instances(of: "AccountService").map(\.address) == ["198.18.0.2"])
        #expect(logs.count("registry entry ignored: not an instance") == 3, "\(logs.text)")
        try await etcd.close()
    }

    @Test func canceledWatchIsReadAgain() async throws {
        let etcd = try await FakeEtcd.start(range: Self.good)
        let registry = try registry(etcd)
        registry.start()
        defer { registry.stop() }
        #expect(try await eventually { registry.snapshot.instances(of: "AccountService").count == 1 })
        // The watch that follows the first read is open: what the fake does next reaches it.
        #expect(try await eventually { etcd.watchRequests == 1 })

        etcd.setRange(.init(body: FakeEtcd.rangeBody(revision: 20, [FakeEtcd.instance("198.18.0.3", 9090)])))
        // Compacted: etcd cancels the watch but leaves the stream open.
        etcd.sendOnWatches(#"{"result":{"header":{"revision":"20"},"canceled":true,"compact_revision":"10"}}"#)
        #expect(try await eventually { registry.snapshot.instances(of: "AccountService").map(\.port) == [9090] })
        try await etcd.close()
    }

    @Test func watchEventsApply() async throws {
        let etcd = try await FakeEtcd.start(range: Self.good)
        let registry = try registry(etcd)
        registry.start()
        defer { registry.stop() }
        #expect(try await eventually { registry.snapshot.instances(of: "AccountService").count == 1 })
        // The watch that follows the first read is open: what the fake does next reaches it.
        #expect(try await eventually { etcd.watchRequests == 1 })
        let added = FakeEtcd.instance("198.18.0.3", 9090)
        let key = Data(added.key.utf8).base64EncodedString()
        let value = Data(added.json.utf8).base64EncodedString()
        etcd.sendOnWatches(#"{"result":{"events":[{"kv":{"key":"\#(key)","value":"\#(value)"}}]}}"#)
        #expect(try await eventually { registry.snapshot.instances(of: "AccountService").count == 2 })
        etcd.sendOnWatches(#"{"result":{"events":[{"type":"DELETE","kv":{"key":"\#(key)"}}]}}"#)
        #expect(try await eventually { registry.snapshot.instances(of: "AccountService").count == 1 })
        try await etcd.close()
    }
}
