import Foundation
import MesherBase

/// How many retries a service may still get on one event loop: each request earns `ratio` of one, which
/// fades over about 10 s, and `minPerSecond` come anyway (at most that many saved). A retry spends one.
struct RetryBudget {
    static let fade = 10_000_000_000.0

    let settings: RetryBudgetSettings
    private var earned = 0.0
    private var reserve: Double
    private var last: UInt64 = 0

    init(_ settings: RetryBudgetSettings) {
        self.settings = settings
        reserve = settings.minPerSecond
    }

    /// A first try: it earns its share of a retry.
    mutating func deposit(now: UInt64) {
        advance(now)
        earned += settings.ratio
    }

    /// Whether a retry may go now; it is paid for if so.
    mutating func withdraw(now: UInt64) -> Bool {
        advance(now)
        if earned >= 1 {
            earned -= 1
            return true
        }
        if reserve >= 1 {
            reserve -= 1
            return true
        }
        return false
    }

    private mutating func advance(_ now: UInt64) {
        guard now > last else { return }
        let elapsed = Double(now - last)
        earned *= exp(-elapsed / Self.fade)
        reserve = min(settings.minPerSecond, reserve + settings.minPerSecond * elapsed / 1e9)
        last = now
    }
}
