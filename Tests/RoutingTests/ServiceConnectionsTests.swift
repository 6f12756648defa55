import Discovery
import MesherBase
import Testing

@testable import Routing

struct ServiceConnectionsTests {
    @Test func opensUpToItsShareThenQueuesThenOverflows() {
        let connections = ServiceConnections(maxOpen: 2, maxPending: 1)
        #expect(connections.admit() == .open)
        #expect(connections.admit() == .open)
        #expect(connections.open == 2 && connections.pending == 2, "both wait for their connect")
        connections.settledPending()
        connections.settledPending()
        #expect(connections.admit() == .wait)
        #expect(connections.admit() == .overflow, "one waiter is all the queue holds")
        #expect(!connections.openIfRoom(), "a byte relay is refused, never queued")
        connections.closed()
        #expect(connections.openIfRoom(), "a closed connection makes room for the waiter")
        #expect(connections.open == 2 && connections.pending == 1)
        connections.settledPending()
        #expect(connections.pending == 0)
    }

    @Test func aPendingLimitOfZeroNeverQueues() {
        let connections = ServiceConnections(maxOpen: 1, maxPending: 0)
        #expect(connections.openIfRoom())
        #expect(connections.admit() == .overflow)
    }

    /// Each event loop holds its share of the service's limits, rounded up.
    @Test func eachLoopTakesItsShare() throws {
        var policy = TrafficPolicy()
        policy.maxConnections = 5
        policy.maxPendingRequests = 3
        let table = EndpointTable(policies: .init(defaults: policy), loops: 2)
        let lease = try #require(
            table.pick("svc", from: [.init(service: "svc", address: "198.18.0.2", port: 80)], now: 0))
        #expect(lease.connections.maxOpen == 3 && lease.connections.maxPending == 2)
    }
}
