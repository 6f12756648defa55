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

    /// A gRPC client sends its first request only after the server's SETTINGS: to a known destination the
    /// preface decides at once, elsewhere the window ends with HTTP/2 and no authority (then relayed).
    @Test func http2PrefaceDecidesAtOnceOnlyWhereTheDestinationIsKnown() {
        let preface = ByteBuffer(string: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        var known = SniffStateMachine(opaquePorts: [])
        _ = known.accepted(Self.accepted, knownServerFirst: false, http2Known: true)
        #expect(handOff(known.read(preface))?.0 == .http2(authority: nil))
        var unknown = SniffStateMachine(opaquePorts: [])
        _ = unknown.accepted(Self.accepted, knownServerFirst: false)
        #expect(handOff(unknown.read(preface)) == nil, "waits for the first request's authority")
        #expect(handOff(unknown.windowExpired())?.0 == .http2(authority: nil))
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
