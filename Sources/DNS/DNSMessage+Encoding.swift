import NIOCore

extension DNSMessage {
    /// The wire form. Names are compressed against earlier names (the answer's name becomes a pointer to
    /// the question). Counts and record data longer than 16 bits are the caller's bug and get clamped.
    var encoded: ByteBuffer {
        var writer = DNSMessageWriter()
        writer.write(self)
        return writer.buffer
    }
}

private struct DNSMessageWriter {
    /// Pointers have 14 bits, so only names starting below this offset can be pointed at.
    static let maxPointerOffset = 0x3FFF

    var buffer = ByteBuffer()
    /// Offset of every name suffix written so far, for compression.
    private var suffixOffsets: [ArraySlice<[UInt8]>: Int] = [:]

    mutating func write(_ message: DNSMessage) {
        buffer.writeInteger(message.id)
        buffer.writeInteger(message.flags.rawValue)
        for count in [
            message.questions.count, message.answers.count, message.authorities.count, message.additionals.count,
        ] {
            buffer.writeInteger(UInt16(clamping: count))
        }
        for question in message.questions {
            write(question.name)
            buffer.writeInteger(question.type.rawValue)
            buffer.writeInteger(question.recordClass.rawValue)
        }
        for record in message.answers + message.authorities + message.additionals {
            write(record)
        }
    }

    private mutating func write(_ record: DNSResourceRecord) {
        write(record.name)
        buffer.writeInteger(record.type.rawValue)
        buffer.writeInteger(record.recordClass.rawValue)
        buffer.writeInteger(record.ttl)
        buffer.writeInteger(UInt16(clamping: record.data.count))
        buffer.writeBytes(record.data.prefix(Int(UInt16.max)))
    }

    private mutating func write(_ name: DNSName) {
        for index in name.labels.indices {
            let suffix = name.labels[index...]
            if let offset = suffixOffsets[suffix] {
                buffer.writeInteger(UInt16(0xC000 | offset))
                return
            }
            if buffer.writerIndex <= Self.maxPointerOffset {
                suffixOffsets[suffix] = buffer.writerIndex
            }
            buffer.writeInteger(UInt8(name.labels[index].count))
            buffer.writeBytes(name.labels[index])
        }
        buffer.writeInteger(UInt8(0))
    }
}
