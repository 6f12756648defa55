import NIOCore
import NIOHPACK

/// The authority of the first request on an HTTP/2 prior-knowledge connection, read from its first HEADERS
/// block (and the CONTINUATION frames that end it) without consuming anything: enough to tell whether the
/// connection is to a service before taking it apart stream by stream. The first block is the first that the
/// connection's HPACK context decodes, so a fresh decoder reads it as the server will.
enum HTTP2FirstRequest {
    enum Outcome: Equatable {
        case needMore
        /// `nil`: the first request names none, or the frames before it are not what a client sends first.
        case authority(String?)
    }

    private static let frameHeaderSize = 9
    private static let data: UInt8 = 0x0
    private static let headers: UInt8 = 0x1
    private static let continuation: UInt8 = 0x9
    private static let endHeaders: UInt8 = 0x4
    private static let padded: UInt8 = 0x8
    private static let priority: UInt8 = 0x20

    /// `bytes` start after the connection preface.
    static func authority(in bytes: UnsafeRawBufferPointer.SubSequence) -> Outcome {
        var offset = bytes.startIndex
        var block: [UInt8] = []
        var inBlock = false
        while true {
            guard bytes.endIndex - offset >= frameHeaderSize else { return .needMore }
            let length = Int(bytes[offset]) << 16 | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
            let type = bytes[offset + 3]
            let flags = bytes[offset + 4]
            let payloadStart = offset + frameHeaderSize
            guard bytes.endIndex - payloadStart >= length else { return .needMore }
            let payload = bytes[payloadStart..<(payloadStart + length)]
            offset = payloadStart + length
            switch type {
            case headers where !inBlock:
                guard let fragment = headerFragment(payload, flags: flags) else { return .authority(nil) }
                block.append(contentsOf: fragment)
            case continuation where inBlock:
                block.append(contentsOf: payload)
            case data, headers, continuation:
                return .authority(nil)
            default:
                // SETTINGS, WINDOW_UPDATE, PRIORITY, PING come before the first request; inside a block nothing may.
                if inBlock { return .authority(nil) }
                continue
            }
            inBlock = true
            if flags & endHeaders != 0 { return decode(block) }
        }
    }

    /// The header block fragment of a HEADERS frame: without its padding and priority fields.
    private static func headerFragment(_ payload: UnsafeRawBufferPointer.SubSequence, flags: UInt8)
        -> UnsafeRawBufferPointer.SubSequence?
    {
        var start = payload.startIndex
        var end = payload.endIndex
        if flags & padded != 0 {
            guard let padding = payload.first, payload.count > Int(padding) else { return nil }
            start += 1
            end -= Int(padding)
        }
        if flags & priority != 0 { start += 5 }
        return start <= end ? payload[start..<end] : nil
    }

    private static func decode(_ block: [UInt8]) -> Outcome {
        var buffer = ByteBuffer(bytes: block)
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
        guard let fields = try? decoder.decodeHeaders(from: &buffer) else { return .authority(nil) }
        return .authority(fields.first(name: ":authority") ?? fields.first(name: "host"))
    }
}
