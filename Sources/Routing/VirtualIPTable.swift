import HashTreeCollections

/// Virtual IPs for the registry's service names, for DNS answers and L4 routing: decided by the set of names
/// alone, so that every Mesher of a mesh, before and after a restart, gives a name the same address whatever
/// order names were asked or registered in.
///
/// A name's address is the first free one of its probe sequence (hashes of the name, 16 of them) in `range`;
/// two names wanting the same address: the one first in byte order keeps it, the other goes on along its own
/// sequence (ordered hashing, Amble and Knuth: the table is the one of inserting the names in sorted order,
/// whatever the order they come in). A name whose 16 addresses are all taken by earlier names gets none (the
/// range is too small). In 240.0.0.0/4, two of 100,000 names want the same first address about 19 times; of
/// 10,000 names, one time in five.
///
/// A persistent value: a name added or removed copies only the paths to it, and views holding an older table
/// keep it. With an IPv6 /96 prefix, a service's IPv6 address is that prefix followed by its IPv4 one.
public struct VirtualIPTable: Sendable, Equatable {
    /// The IPv4 block addresses are taken from, less its first and last address.
    public struct Range: Sendable, Equatable, CustomStringConvertible {
        public let base: UInt32
        public let prefixLength: Int

        /// 240.0.0.0/4 (class E, reserved: no real host has one).
        public static let standard = Range(base: 0xF000_0000, prefixLength: 4)!

        /// `nil` unless `base` has no bits past `prefixLength` and the block has room (a /4 to a /24).
        public init?(base: UInt32, prefixLength: Int) {
            guard (4...24).contains(prefixLength), base & ~Self.mask(prefixLength) == 0 else { return nil }
            self.base = base
            self.prefixLength = prefixLength
        }

        /// Addresses that can be given: all but the block's first and last.
        var usable: UInt32 { UInt32(1) << (32 - prefixLength) - 2 }

        func contains(_ address: UInt32) -> Bool { address & Self.mask(prefixLength) == base }

        static func mask(_ length: Int) -> UInt32 { ~UInt32(0) << (32 - length) }

        public var description: String {
            "\(base >> 24).\(base >> 16 & 0xFF).\(base >> 8 & 0xFF).\(base & 0xFF)/\(prefixLength)"
        }
    }

    struct Placement: Sendable, Equatable {
        /// Offset in the range, 1...usable.
        var host: UInt32
        /// Which of the name's probes it is.
        var probe: Int
    }

    static let maxProbes = 16

    public let range: Range
    /// The first 12 bytes of IPv6 virtual IPs; `nil` when there are none.
    public let ipv6Prefix: [UInt8]?
    private(set) var byName: TreeDictionary<String, Placement> = [:]
    private(set) var byHost: TreeDictionary<UInt32, String> = [:]
    /// Names not at their first address, and names with none: the only ones a removal can move.
    private(set) var displaced: Set<String> = []
    public private(set) var unplaced: Set<String> = []

    public init(range: Range = .standard, ipv6Prefix: [UInt8]? = nil) {
        precondition(ipv6Prefix == nil || ipv6Prefix?.count == 12, "an IPv6 virtual IP prefix is a /96")
        self.range = range
        self.ipv6Prefix = ipv6Prefix
    }

    public var count: Int { byName.count }

    /// The address of `service` (a lowercased registry name), if it has one.
    public func address(of service: String) -> [UInt8]? {
        guard let placement = byName[service] else { return nil }
        let address = range.base + placement.host
        return [UInt8(address >> 24), UInt8(address >> 16 & 0xFF), UInt8(address >> 8 & 0xFF), UInt8(address & 0xFF)]
    }

    /// The IPv6 address of `service`, when IPv6 virtual IPs are configured.
    public func ipv6Address(of service: String) -> [UInt8]? {
        guard let ipv6Prefix, let address = address(of: service) else { return nil }
        return ipv6Prefix + address
    }

    public func service(at address: [UInt8]) -> String? {
        if address.count == 16, let ipv6Prefix, address.starts(with: ipv6Prefix) {
            return service(at: Array(address.suffix(4)))
        }
        guard address.count == 4 else { return nil }
        let value = address.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard range.contains(value) else { return nil }
        return byHost[value - range.base]
    }

    /// Gives `name` its address, moving later names out of its way.
    public mutating func insert(_ name: String) {
        guard byName[name] == nil, !unplaced.contains(name) else { return }
        var name = name
        var probe = 0
        while probe < Self.maxProbes {
            let host = host(of: name, probe: probe)
            guard let holder = byHost[host] else { return place(name, host, probe) }
            if Self.precedes(holder, name) {
                probe += 1
                continue
            }
            // The later name goes on from where it was.
            let held = byName.removeValue(forKey: holder)!
            displaced.remove(holder)
            place(name, host, probe)
            (name, probe) = (holder, held.probe + 1)
        }
        unplaced.insert(name)
    }

    /// Takes `name`'s address back; names that wanted it before moving on get it.
    public mutating func remove(_ name: String) {
        if unplaced.remove(name) != nil { return }
        guard let freed = byName.removeValue(forKey: name) else { return }
        byHost[freed.host] = nil
        displaced.remove(name)
        let wanted =
            displaced.contains { other in
                (0..<byName[other]!.probe).contains { host(of: other, probe: $0) == freed.host }
            }
            || unplaced.contains { other in (0..<Self.maxProbes).contains { host(of: other, probe: $0) == freed.host } }
        guard wanted else { return }
        // Names at their first address are where they would be without the others; the rest find their places
        // again among them.
        let again = displaced.union(unplaced)
        for other in displaced { byHost[byName.removeValue(forKey: other)!.host] = nil }
        (displaced, unplaced) = ([], [])
        for other in again { insert(other) }
    }

    private mutating func place(_ name: String, _ host: UInt32, _ probe: Int) {
        byHost[host] = name
        byName[name] = Placement(host: host, probe: probe)
        if probe > 0 { displaced.insert(name) }
    }

    /// Probe `probe` of `name`: FNV-1a of the name, mixed with the probe number (SplitMix64's finalizer),
    /// folded into the range. The same on every machine (Swift's own hasher is seeded per process).
    func host(of name: String, probe: Int) -> UInt32 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        var mixed = hash &+ UInt64(probe) &* 0x9E37_79B9_7F4A_7C15
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        mixed ^= mixed >> 31
        return 1 + UInt32(mixed % UInt64(range.usable))
    }

    /// Byte order of the names' UTF-8: what decides who keeps a contested address.
    static func precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}
