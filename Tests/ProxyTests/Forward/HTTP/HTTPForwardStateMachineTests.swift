import Testing

@testable import Proxy

/// The connection's life without a channel: events in, actions out.
struct HTTPForwardStateMachineTests {
    @Test func keepAliveRequestGoesBackToIdle() {
        var machine = HTTPForwardStateMachine()
        machine.requestHead()
        #expect(machine.state == .requestBody && !machine.requestEnded)
        machine.requestEnd()
        #expect(machine.state == .awaitingResponse && machine.requestEnded)
        #expect(machine.keepsAlive(requestKeepAlive: true, delimited: true, inputPending: false))
        #expect(machine.responseEnd(close: false) == .parseNext)
        #expect(machine.state == .idle)
    }

    @Test func responseBeforeTheRequestEndedClosesTheConnection() {
        var machine = HTTPForwardStateMachine()
        machine.requestHead()
        #expect(!machine.keepsAlive(requestKeepAlive: true, delimited: true, inputPending: false))
    }

    @Test func pipelinedRequestWaitsForTheResponseBeforeIt() {
        var machine = HTTPForwardStateMachine()
        machine.requestHead()
        machine.requestEnd()
        #expect(!machine.shouldRead(inputPending: true, bodyWanted: true), "the next request is already here")
        #expect(machine.shouldRead(inputPending: false, bodyWanted: true))
        #expect(machine.shouldRead(inputPending: false, bodyWanted: true))
    }

    @Test func bodyIsReadOnlyWhileItCanGoSomewhere() {
        var machine = HTTPForwardStateMachine()
        machine.requestHead()
        #expect(!machine.shouldRead(inputPending: false, bodyWanted: false))
        #expect(machine.shouldRead(inputPending: false, bodyWanted: true))
    }

    @Test func halfClosedClientIsDoneOnceItsBytesAreRead() {
        var machine = HTTPForwardStateMachine()
        #expect(machine.endOfInput() == .parseNext)
        #expect(!machine.clientIsDone(inputPending: true))
        #expect(machine.clientIsDone(inputPending: false))
        machine.requestHead()
        machine.requestEnd()
        #expect(!machine.keepsAlive(requestKeepAlive: true, delimited: true, inputPending: false))
    }

    @Test func refusedOrClosedConnectionReadsNothing() {
        var machine = HTTPForwardStateMachine()
        machine.refuse()
        #expect(!machine.acceptsInput && !machine.shouldRead(inputPending: false, bodyWanted: true))
        #expect(!machine.headTimedOut())
    }

    @Test func quiesceClosesAnIdleConnectionAtOnce() {
        var machine = HTTPForwardStateMachine()
        #expect(machine.quiesce(inputPending: false, recentlyAnswered: false) == .closeDrained)
        #expect(machine.state == .closing)
        #expect(machine.quiesce(inputPending: false, recentlyAnswered: false) == .none, "once")
    }

    @Test func quiesceWithARequestInFlightClosesAfterItsResponse() {
        var machine = HTTPForwardStateMachine()
        machine.requestHead()
        #expect(machine.quiesce(inputPending: false, recentlyAnswered: false) == .none)
        machine.requestEnd()
        #expect(!machine.keepsAlive(requestKeepAlive: true, delimited: true, inputPending: false), "connection: close")
        #expect(machine.responseEnd(close: true) == .close)
        #expect(machine.state == .closing)
    }

    @Test func quiesceWithAHeadArrivingLetsItFinish() {
        var machine = HTTPForwardStateMachine()
        #expect(machine.quiesce(inputPending: true, recentlyAnswered: false) == .none)
        machine.requestHead()
        machine.requestEnd()
        #expect(machine.responseEnd(close: true) == .close)
    }

    @Test func quiesceLeavesATunnelToTheRelay() {
        var machine = HTTPForwardStateMachine()
        machine.requestHead()
        machine.requestEnd()
        machine.tunnel()
        #expect(machine.quiesce(inputPending: false, recentlyAnswered: false) == .none)
        #expect(machine.state == .tunnel)
    }

    /// The response's head went out keep-alive before the drain began: the client will send its next request
    /// on this connection, so it gets the drain grace to do so, and that request's answer closes.
    @Test func aResponseThatWentOutKeepAliveGetsTheGraceForOneMoreRequest() {
        var machine = HTTPForwardStateMachine()
        machine.requestHead()
        machine.requestEnd()
        #expect(machine.keepsAlive(requestKeepAlive: true, delimited: true, inputPending: false))
        #expect(machine.quiesce(inputPending: false, recentlyAnswered: false) == .none)
        #expect(machine.responseEnd(close: false) == .awaitLastRequest)
        #expect(machine.state == .idle)
        machine.requestHead()
        #expect(machine.graceEnded(inputPending: false) == .none, "a request began: it is answered")
        machine.requestEnd()
        #expect(!machine.keepsAlive(requestKeepAlive: true, delimited: true, inputPending: false))
        #expect(machine.responseEnd(close: true) == .close)
    }

    @Test func theGraceEndsInACloseWhenNoRequestCame() {
        var machine = HTTPForwardStateMachine()
        #expect(machine.quiesce(inputPending: false, recentlyAnswered: true) == .awaitLastRequest)
        #expect(machine.state == .idle)
        #expect(machine.graceEnded(inputPending: true) == .none, "part of a head is here: the head timer decides")
        #expect(machine.graceEnded(inputPending: false) == .closeDrained)
        #expect(machine.state == .closing)
    }
}
