import Foundation
import MesherBase

// The decoding helpers of ConfigDecoding.swift: values written as text, strict keys, checked values.

/// A value written as text in its own notation ("5s", "64KiB").
protocol TextualConfigValue: Decodable {
    init?(parsing text: String)
    /// What a valid value looks like, for the error message.
    static var expected: String { get }
}

extension TextualConfigValue {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = (try? c.decode(String.self)) ?? ""
        guard let value = Self(parsing: text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected \(Self.expected), got '\(text)'")
        }
        self = value
    }
}

extension ConfigDuration: TextualConfigValue {
    static let expected = "a duration like 250ms, 5s, 2m or 1h"
}

extension ByteSize: TextualConfigValue {
    static let expected = "a size like 65536, 64KiB or 1MiB"
}

/// Any key, to see the keys a mapping really has.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// A keyed container that first rejects keys `Keys` does not know.
    func strictContainer<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws -> KeyedDecodingContainer<Keys> {
        let all = try container(keyedBy: AnyKey.self)
        let known = Keys.allCases.map(\.stringValue)
        for key in all.allKeys where !known.contains(key.stringValue) {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: all,
                debugDescription: "unknown field; expected one of \(known.joined(separator: ", "))")
        }
        return try container(keyedBy: Keys.self)
    }
}

extension KeyedDecodingContainer {
    /// A value that decoded but is not allowed: the error names the field (and so the line).
    func check(_ condition: Bool, _ key: Key, _ message: @autoclosure () -> String) throws {
        if !condition { throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: message()) }
    }

    func checkIPAddresses(_ addresses: [String], _ key: Key) throws {
        for address in addresses { try check(IPAddressText.isValid(address), key, "'\(address)' is not an IP address") }
    }

    /// A number, duration or size within `range`; the error names the bound it is past.
    func check<T: Comparable & CustomStringConvertible>(_ value: T, in range: ClosedRange<T>, _ key: Key) throws {
        try check(value >= range.lowerBound, key, "must be at least \(range.lowerBound)")
        try check(value <= range.upperBound, key, "must be at most \(range.upperBound)")
    }

    /// Overwrites `value` only when the key is present.
    func decode<T: Decodable>(_ value: inout T, _ key: Key) throws {
        if let decoded = try decodeIfPresent(T.self, forKey: key) { value = decoded }
    }

    /// One of an enum's cases, written as its raw value; overwrites `value` only when the key is present.
    func decodeChoice<T: RawRepresentable & CaseIterable>(_ value: inout T, _ key: Key) throws
    where T.RawValue == String {
        guard let text = try decodeIfPresent(String.self, forKey: key) else { return }
        guard let choice = T(rawValue: text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "'\(text)' is not one of \(T.spellings())")
        }
        value = choice
    }

    /// A list of an enum's cases, each written as its raw value (`on: [connect-failure, 5xx]`); `nil` when absent.
    func decodeChoices<T: RawRepresentable & CaseIterable & Hashable>(_ key: Key) throws -> Set<T>?
    where T.RawValue == String {
        guard let texts = try decodeIfPresent([String].self, forKey: key) else { return nil }
        return try Set(
            texts.map { text in
                guard let choice = T(rawValue: text) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: key, in: self, debugDescription: "'\(text)' is not one of \(T.spellings())")
                }
                return choice
            })
    }

    /// Overwrites `value` only when the key is present, and refuses a value out of `range`.
    func decode<T: Decodable & Comparable & CustomStringConvertible>(
        _ value: inout T, _ key: Key, in range: ClosedRange<T>
    ) throws {
        guard let decoded = try decodeIfPresent(T.self, forKey: key) else { return }
        try check(decoded, in: range, key)
        value = decoded
    }
}

/// A file this process can open for reading now (not a directory).
func isReadableFile(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
        && FileManager.default.isReadableFile(atPath: path)
}
