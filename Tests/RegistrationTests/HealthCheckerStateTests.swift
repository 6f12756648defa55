import NIOCore
import Testing

@testable import Registration

/// Up and down by the thresholds, and the lines about an app that stays down: at once with each new cause,
/// else one per quiet period with the count of those left out.
@Suite struct HealthCheckerStateTests {
    typealias State = HealthChecker.State
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func at(_ seconds: Double) -> NIODeadline { start + .milliseconds(Int64(seconds * 1000)) }

    @Test func anAppThatNeverComesUpSaysWhyRateLimited() {
        var state = State(failureThreshold: 3, successThreshold: 1)
        let refused = HealthProbe.Outcome.failed("connect refused 198.18.0.2:8080")
        #expect(state.record(refused, now: at(0)) == .stillDown(cause: "connect refused 198.18.0.2:8080", unlogged: 0))
        for second in 1..<10 { #expect(state.record(refused, now: at(Double(second))) == .none) }
        #expect(state.lastFailure == "connect refused 198.18.0.2:8080")
        #expect(state.record(refused, now: at(10)) == .stillDown(cause: "connect refused 198.18.0.2:8080", unlogged: 9))
        // A new cause is said at once.
        #expect(state.record(.failed("status 500"), now: at(10.5)) == .stillDown(cause: "status 500", unlogged: 0))
        #expect(state.record(.failed("status 500"), now: at(11)) == .none)
        #expect(state.record(.passed, now: at(12)) == .changed(isUp: true, cause: nil))
        #expect(state.lastFailure == nil && state.isUp)
    }

    @Test func downAfterTheThresholdWithTheCauseThenQuietForAPeriod() {
        var state = State(failureThreshold: 2, successThreshold: 2)
        #expect(state.record(.passed, now: at(0)) == .none, "two passes needed")
        #expect(state.record(.passed, now: at(1)) == .changed(isUp: true, cause: nil))
        #expect(state.record(.failed("timeout"), now: at(2)) == .none, "one failure is not down yet")
        #expect(state.lastFailure == "timeout")
        #expect(state.record(.failed("timeout"), now: at(3)) == .changed(isUp: false, cause: "timeout"))
        #expect(state.record(.failed("timeout"), now: at(4)) == .none, "the down line said it")
        #expect(state.record(.failed("timeout"), now: at(13)) == .stillDown(cause: "timeout", unlogged: 1))
        #expect(state.record(.passed, now: at(14)) == .none)
        #expect(state.record(.failed("timeout"), now: at(15)) == .none, "a flapping app: still one line per period")
    }
}
