import Limits
import Testing

@testable import Proxy

struct MemoryReturnTests {
    /// Once per peak, when it is over: slow readers' bytes or connections gone; an idle or steady Mesher never trims.
    @Test func trimsOncePerPeakWhenItIsOver() {
        let budget = ByteBudget(limit: 64 << 20)
        let connections = ConnectionLimiter(limit: 10_000)
        var trims = 0
        let memory = MemoryReturn(slowReaders: budget, connections: connections) { trims += 1 }
        for _ in 0..<10 { memory.check() }
        #expect(trims == 0, "idle")
        budget.take(16 << 20)
        memory.check()
        #expect(trims == 0, "still held")
        budget.giveBack(16 << 20)
        memory.check()
        memory.check()
        #expect(trims == 1, "after the peak, once")
        for _ in 0..<300 { connections.opened() }
        memory.check()
        for _ in 0..<300 { connections.closed() }
        memory.check()
        #expect(trims == 2, "300 connections came and went")
        for _ in 0..<100 { connections.opened() }
        memory.check()
        for _ in 0..<100 { connections.closed() }
        memory.check()
        #expect(trims == 2, "100 is no peak")
    }
}

struct StreamBufferTests {
    /// A stream reads on while it takes writes and the budget has room; past the budget only a stream holding
    /// nothing reads (once), so a client that reads is never stuck behind ones that do not.
    @Test func readsWithinTheBudget() {
        let budget = ByteBudget(limit: 100)
        var stalled = StreamBuffer()
        var reading = StreamBuffer()
        stalled.take(60, from: budget)
        #expect(stalled.mayRead(writable: true, budget: budget))
        #expect(!stalled.mayRead(writable: false, budget: budget), "its own window")
        stalled.take(40, from: budget)
        #expect(!stalled.mayRead(writable: true, budget: budget), "the budget is spent")
        #expect(reading.mayRead(writable: true, budget: budget), "holds nothing")
        reading.take(10, from: budget)
        #expect(!reading.mayRead(writable: true, budget: budget))
        reading.giveBack(10, to: budget)
        #expect(reading.mayRead(writable: true, budget: budget))
        stalled.giveBack(100, to: budget)
        #expect(budget.current == 0 && budget.takePeak() == 110 && budget.takePeak() == 0)
    }

    /// With no channel per stream, a stream's own share is its high watermark: past it, reads from its instance
    /// pause even while the connection and the budget have room.
    @Test func oneStreamHoldsAtMostItsHighWatermark() {
        let budget = ByteBudget(limit: 1 << 30)
        var buffer = StreamBuffer()
        buffer.take(StreamBuffer.highWatermark - 1, from: budget)
        #expect(buffer.mayRead(writable: true, budget: budget))
        buffer.take(1, from: budget)
        #expect(!buffer.mayRead(writable: true, budget: budget))
        buffer.giveBack(StreamBuffer.highWatermark, to: budget)
        #expect(buffer.mayRead(writable: true, budget: budget))
    }
}
