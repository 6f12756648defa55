import Limits
import Testing

struct ClientResetBudgetTests {
    @Test func anAddressOverItsBudgetUntilTheWindowEnds() {
        let budget = ClientResetBudget(maxResets: 3, window: 1_000)
        let client: [UInt8] = [198, 18, 0, 1]
        #expect((0..<3).map { _ in budget.reset(by: client, now: 10) } == [false, false, false])
        #expect(budget.reset(by: client, now: 20), "the fourth in the window")
        #expect(!budget.reset(by: [198, 18, 0, 2], now: 20), "another address has its own")
        #expect(!budget.reset(by: client, now: 1_010), "a new window")
    }

    @Test func itRemembersAtMostItsCapacity() {
        let budget = ClientResetBudget(maxResets: 1, window: 1_000, capacity: 2)
        for last in UInt8(0)..<100 { _ = budget.reset(by: [198, 18, 0, last], now: 0) }
        // Each new address took a place; the one just counted is still known.
        #expect(budget.reset(by: [198, 18, 0, 99], now: 0))
    }
}
