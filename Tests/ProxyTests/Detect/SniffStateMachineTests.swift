import NIOCore
import Sniff
import Testing

@testable import Proxy

struct SniffStateMachineTests {
    static let original = try! SocketAddress(ipAddress: "198.18.0.2", port: 7000)
    static let accepted = AcceptVerdict.accepted(Accepted(listener: .outbound, original: original))

    /// The protocol and flags of a hand-off, or nil for any other action.
    func handOff(_ action: SniffStateMachine.Action) -> (SniffResult, bytes: Int, learned: Bool)? {
        guard case .handOff(let detected, let buffered, _, let learned) = action else { return nil }
        return (detected.protocolSeen, buffered?.readableBytes ?? 0, learned)
    }

    @Test func httpIsDecidedOnItsFirstBytes() {
        var machine = SniffStateMachine(opaquePorts: [])
        guard case .startWindow = machine.accepted(Self.accepted, knownServerFirst: false) else {
            Issue.record("no window for a client that has not spoken")
            return
        }
        #expect(handOff(machine.read(ByteBuffer(string: "GE"))) == nil, "two bytes decide nothing")
        let decided = handOff(machine.read(ByteBuffer(string: "T / HTTP/1.1\r\n")))
        #expect(decided?.0 == .http && decided?.bytes == 16 && decided?.learned == false)
    }

    @Test func bytesThatCameDuringTheLookupDecideAtOnce() {
        var machine = SniffStateMachine(opaquePorts: [])
        #expect(handOff(machine.read(ByteBuffer(string: "GET / HTTP/1.1\r\n"))) == nil, "not accepted yet")
        #expect(handOff(machine.accepted(Self.accepted, knownServerFirst: false))?.0 == .http)
    }

    @Test func silentClientIsRelayedAfterTheWindowAndLearnt() {
        var machine = SniffStateMachine(opaquePorts: [])
        _ = machine.accepted(Self.accepted, knownServerFirst: false)
        let decided = handOff(machine.windowExpired())
        #expect(decided?.0 == .opaque && decided?.bytes == 0 && decided?.learned == true)
    }

    @Test func clientMidwayAtTheWindowIsRelayedButNotLearnt() {
        var machine = SniffStateMachine(opaquePorts: [])
        _ = machine.accepted(Self.accepted, knownServerFirst: false)
        _ = machine.read(ByteBuffer(string: "GE"))
        let decided = handOff(machine.windowExpired())
        #expect(decided?.0 == .opaque && decided?.bytes == 2 && decided?.learned == false)
    }

    @Test func knownServerFirstDestinationSkipsTheWindow() {
        var machine = SniffStateMachine(opaquePorts: [])
        let decided = handOff(machine.accepted(Self.accepted, knownServerFirst: true))
        #expect(decided?.0 == .opaque && decided?.learned == false)
        #expect(handOff(machine.windowExpired()) == nil, "decided once only")
    }

    @Test func opaquePortSkipsTheWindow() {
        var machine = SniffStateMachine(opaquePorts: [7000])
        #expect(handOff(machine.accepted(Self.accepted, knownServerFirst: false))?.0 == .opaque)
    }

    @Test func endOfInputDecidesOnWhatCame() {
        var machine = SniffStateMachine(opaquePorts: [])
        _ = machine.accepted(Self.accepted, knownServerFirst: false)
        _ = machine.read(ByteBuffer(string: "GE"))
        let decided = handOff(machine.endOfInput())
        #expect(decided?.0 == .opaque && decided?.learned == false)
    }

    @Test func refusalEndsDetectionAndTheStageStillEndsTheConnection() {
        var machine = SniffStateMachine(opaquePorts: [])
        guard case .refuse(.loop) = machine.accepted(.refused(.loop, original: nil), knownServerFirst: false) else {
            Issue.record("not refused")
            return
        }
        let endsIt = machine.closed()
        #expect(endsIt, "refused before any hand-off: this stage ends the connection")
    }

    @Test func afterTheHandOffTheNextStageEndsTheConnection() {
        var machine = SniffStateMachine(opaquePorts: [])
        _ = machine.accepted(Self.accepted, knownServerFirst: true)
        machine.handedOff()
        let endsIt = machine.closed()
        #expect(!endsIt)
    }
}

struct ServerFirstCacheTests {
    static func address(_ port: Int) -> SocketAddress { try! SocketAddress(ipAddress: "198.18.0.2", port: port) }

    @Test func entriesExpire() {
        let cache = ServerFirstCache(capacity: 4, ttl: .minutes(10))
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        cache.insert(Self.address(1), now: now)
        #expect(cache.contains(Self.address(1), now: now + .minutes(9)))
        #expect(!cache.contains(Self.address(1), now: now + .minutes(10)), "a changed server is learnt again")
        #expect(cache.count == 0)
    }

    @Test func boundedDroppingTheOldestFirst() {
        let cache = ServerFirstCache(capacity: 3, ttl: .minutes(10))
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        for port in 1...5 { cache.insert(Self.address(port), now: now + .seconds(Int64(port))) }
        #expect(cache.count == 3)
        #expect(!cache.contains(Self.address(1), now: now + .seconds(6)))
        #expect(!cache.contains(Self.address(2), now: now + .seconds(6)))
        #expect((3...5).allSatisfy { cache.contains(Self.address($0), now: now + .seconds(6)) })
    }

    @Test func zeroCapacityRemembersNothing() {
        let cache = ServerFirstCache(capacity: 0, ttl: .minutes(10))
        cache.insert(Self.address(1), now: .now())
        #expect(cache.count == 0)
    }
}
