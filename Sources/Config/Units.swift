import Foundation

/// A duration written as "250ms", "5s", "2m", "1h", or a number of seconds.
public struct ConfigDuration: Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(seconds: Int64) { nanoseconds = seconds * 1_000_000_000 }
    public init(milliseconds: Int64) { nanoseconds = milliseconds * 1_000_000 }
    public init(minutes: Int64) { self.init(seconds: minutes * 60) }
    public init(hours: Int64) { self.init(seconds: hours * 3600) }

    /// Whole seconds, rounded down (DNS TTLs, etcd leases).
    public var seconds: Int64 { nanoseconds / 1_000_000_000 }

    public static func < (a: ConfigDuration, b: ConfigDuration) -> Bool { a.nanoseconds < b.nanoseconds }

    public init?(parsing text: String) {
        let units: [(String, Double)] = [("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let unit = units.first { trimmed.hasSuffix($0.0) && Double(trimmed.dropLast($0.0.count)) != nil }
        let number = Double(unit.map { String(trimmed.dropLast($0.0.count)) } ?? trimmed)
        guard let number, number >= 0, number.isFinite else { return nil }
        let nanos = number * (unit?.1 ?? 1e9)
        guard nanos < Double(Int64.max) else { return nil }
        nanoseconds = Int64(nanos)
    }

    public var description: String {
        if nanoseconds == 0 { return "0s" }
        let units: [(String, Int64)] = [("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000)]
        for (unit, size) in units where nanoseconds % size == 0 { return "\(nanoseconds / size)\(unit)" }
        return nanoseconds % 1_000_000 == 0 ? "\(nanoseconds / 1_000_000)ms" : "\(Double(nanoseconds) / 1e6)ms"
    }
}

/// A size written as "64KiB", "1MiB", "512" (bytes).
public struct ByteSize: Comparable, Sendable, CustomStringConvertible {
    public var bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    public static func < (a: ByteSize, b: ByteSize) -> Bool { a.bytes < b.bytes }

    public var description: String {
        for (unit, size) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes != 0 && bytes % size == 0
        {
            return "\(bytes / size)\(unit)"
        }
        return "\(bytes)"
    }

    public init?(parsing text: String) {
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("B", 1)]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let unit = units.first { trimmed.hasSuffix($0.0) }
        guard let number = Int(unit.map { String(trimmed.dropLast($0.0.count)) } ?? trimmed), number >= 0 else {
            return nil
        }
        let (product, overflow) = number.multipliedReportingOverflow(by: unit?.1 ?? 1)
        guard !overflow else { return nil }
        bytes = product
    }
}
