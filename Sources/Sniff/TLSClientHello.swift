/// Just enough of TLS (RFC 8446 §4.1.2, RFC 6066 §3) to recognise a ClientHello and read its server name.
enum TLSClientHello {
    /// The largest record a ClientHello may come in (2^14 plus expansion).
    static let maxRecord = 16384 + 2048

    static func classify(_ bytes: UnsafeRawBufferPointer) -> SniffResult {
        // Record header: type 22 (handshake), version 3.x, length.
        if bytes.count >= 2 && bytes[1] != 0x03 { return .opaque }
        if bytes.count >= 3 && bytes[2] > 0x04 { return .opaque }
        guard bytes.count >= 5 else { return .needMore }
        let length = Int(bytes[3]) << 8 | Int(bytes[4])
        guard length > 0 && length <= maxRecord else { return .opaque }
        if bytes.count >= 6 && bytes[5] != 0x01 { return .opaque }  // handshake type ClientHello
        guard bytes.count >= 5 + length else { return .needMore }
        var reader = Reader(bytes: bytes, position: 5, end: 5 + length)
        return .tls(serverName: serverName(&reader))
    }

    /// `nil` when the hello has no SNI or does not parse (still TLS: the relay does not care).
    private static func serverName(_ reader: inout Reader) -> String? {
        guard reader.skip(4),  // handshake type, 24-bit length
            reader.skip(2 + 32),  // legacy_version, random
            reader.skipVector(lengthBytes: 1),  // session id
            reader.skipVector(lengthBytes: 2),  // cipher suites
            reader.skipVector(lengthBytes: 1),  // compression methods
            let extensionsLength = reader.read(2)
        else { return nil }
        let extensionsEnd = min(reader.position + extensionsLength, reader.end)
        while reader.position + 4 <= extensionsEnd {
            guard let type = reader.read(2), let length = reader.read(2) else { return nil }
            guard type == 0 else {
                guard reader.skip(length) else { return nil }
                continue
            }
            // server_name_list: list length, then entries of (type, length, name); type 0 is host_name.
            guard reader.skip(2), reader.read(1) == 0, let nameLength = reader.read(2),
                reader.position + nameLength <= reader.end
            else { return nil }
            let name = reader.bytes[reader.position..<reader.position + nameLength]
            return String(decoding: name, as: UTF8.self)
        }
        return nil
    }

    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position: Int
        let end: Int

        mutating func read(_ count: Int) -> Int? {
            guard position + count <= end else { return nil }
            let value = bytes[position..<position + count].reduce(0) { $0 << 8 | Int($1) }
            position += count
            return value
        }

        mutating func skip(_ count: Int) -> Bool {
            guard position + count <= end else { return false }
            position += count
            return true
        }

        mutating func skipVector(lengthBytes: Int) -> Bool {
            guard let length = read(lengthBytes) else { return false }
            return skip(length)
        }
    }
}
