import Foundation
import Testing

@testable import Routing

/// Serialized, and the long simulations on a thread of their own: on one of Swift's few cooperative threads,
/// a loop of seconds holds up every other test's awaits (a timing test elsewhere failed on it).
@Suite(.serialized)
struct VirtualIPTableTests {
    /// The same generator on every run: a failure can be replayed.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func offThePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in Thread { continuation.resume(returning: work()) }.start() }
    }

    static func table(_ names: some Sequence<String>, range: VirtualIPTable.Range = .standard) -> VirtualIPTable {
        var table = VirtualIPTable(range: range)
        for name in names { table.insert(name) }
        return table
    }

    @Test func addressesAreInTheRangeStableAndReversible() throws {
        let table = Self.table(["accountservice", "storeweb"])
        let address = try #require(table.address(of: "accountservice"))
        #expect(address[0] >> 4 == 0xF, "in 240.0.0.0/4")
        #expect(Self.table(["storeweb", "accountservice"]).address(of: "accountservice") == address)
        #expect(table.service(at: address) == "accountservice")
        #expect(table.service(at: [240, 0, 0, 0]) == nil && table.service(at: [198, 18, 0, 1]) == nil)
        #expect(table.address(of: "other") == nil)
    }

    /// The simulation: 100,000 names, each with an address of its own, the same whatever the order they
    /// came in.
    @Test func hundredThousandNamesInAnyOrderGetTheSameDistinctAddresses() async {
        let names = (0..<100_000).map { "service-\($0)" }
        var generator = SeededGenerator(state: 16)
        let shuffledNames = names.shuffled(using: &generator)
        let (forward, shuffled) = await Self.offThePool { (Self.table(names), Self.table(shuffledNames)) }
        #expect(forward.count == names.count && forward.unplaced.isEmpty)
        #expect(forward.byHost.count == names.count, "no two names share an address")
        #expect(!forward.displaced.isEmpty, "collisions happened and were settled: \(forward.displaced.count)")
        #expect(forward == shuffled)
    }

    /// Removing names gives the table of the names left: in a /16, where a tenth of 10,000 names collide.
    @Test func removalsGiveTheTableOfTheNamesLeft() async throws {
        let range = try #require(VirtualIPTable.Range(base: 0xF0F0_0000, prefixLength: 16))
        let names = (0..<10_000).map { "service-\($0)" }
        var generator = SeededGenerator(state: 3)
        let shuffledNames = names.shuffled(using: &generator)
        let gone = Set(names.shuffled(using: &generator).prefix(3000))
        let (reversed, shuffled, removed, left) = await Self.offThePool {
            var table = Self.table(names.reversed(), range: range)
            let reversed = table
            for name in gone { table.remove(name) }
            return (
                reversed, Self.table(shuffledNames, range: range), table,
                Self.table(names.filter { !gone.contains($0) }, range: range)
            )
        }
        #expect(reversed.displaced.count > 500)
        #expect(reversed == shuffled)
        #expect(removed == left)
    }

    /// A range far too small: names without an address are the same whatever the order, and one
    /// gets its address when a name that held one of its choices goes.
    @Test func fullRangeIsOrderIndependentToo() throws {
        let range = try #require(VirtualIPTable.Range(base: 0xF0F0_0000, prefixLength: 24))
        let names = (0..<400).map { "s\($0)" }
        var generator = SeededGenerator(state: 7)
        let table = Self.table(names, range: range)
        #expect(table.count == 254 && table.unplaced.count == 146)
        #expect(table == Self.table(names.shuffled(using: &generator), range: range))
        var smaller = table
        for name in names.prefix(100) { smaller.remove(name) }
        #expect(smaller == Self.table(names.dropFirst(100).shuffled(using: &generator), range: range))
        #expect(smaller.count == 254)
    }

    @Test func contestedAddressGoesToTheFirstNameInByteOrder() throws {
        let range = try #require(VirtualIPTable.Range(base: 0xF0F0_0000, prefixLength: 24))
        var probe = VirtualIPTable(range: range)
        // Two names whose first choices are the same address.
        let names = (0..<2000).map { "n\($0)" }
        let first = Dictionary(grouping: names) { probe.host(of: $0, probe: 0) }.values.first { $0.count > 1 }!
        let (a, b) = (first.min()!, first.max()!)
        probe.insert(b)
        probe.insert(a)
        #expect(probe.byName[a]?.probe == 0 && probe.byName[b]?.probe == 1)
        probe.remove(a)
        #expect(probe.byName[b]?.probe == 0, "back to its first choice once the name before it goes")
    }

    @Test func rangesAreValidated() {
        #expect(VirtualIPTable.Range(base: 0xF000_0000, prefixLength: 4) != nil)
        #expect(VirtualIPTable.Range(base: 0xF0F0_0000, prefixLength: 16)?.description == "240.240.0.0/16")
        #expect(VirtualIPTable.Range(base: 0xF0F0_0001, prefixLength: 16) == nil, "bits past the prefix")
        #expect(VirtualIPTable.Range(base: 0xF0F0_0000, prefixLength: 30) == nil, "too small")
    }

    @Test func ipv6AddressesFollowTheIPv4Ones() throws {
        let prefix: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff] + Array(repeating: 0, count: 6)
        var table = VirtualIPTable(ipv6Prefix: prefix)
        table.insert("accountservice")
        let v6 = try #require(table.ipv6Address(of: "accountservice"))
        #expect(v6 == prefix + table.address(of: "accountservice")!)
        #expect(table.service(at: v6) == "accountservice")
        #expect(Self.table(["accountservice"]).ipv6Address(of: "accountservice") == nil)
        #expect(table.service(at: [0x20, 0x01] + Array(repeating: 0, count: 14)) == nil)
    }
}
