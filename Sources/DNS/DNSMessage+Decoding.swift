import NIOCore

enum DNSMessageError: Error, Equatable {
    case truncated
    case emptyLabel
    case labelTooLong
    case nameTooLong
    /// More pointer jumps than a legal name can need: a loop.
    case tooManyCompressionPointers
    /// Label types 0b01 and 0b10 (RFC 6891 retired the extended ones).
    case unsupportedLabelType
    /// A packet with QR=1 sent to the server.
    case notAQuery
}

extension DNSMessage {
    /// Decodes a whole message. Any input either decodes or throws: every read is bounds-checked and
    /// compression pointers are followed a bounded number of times.
    init(decoding packet: ByteBuffer) throws {
        var reader = DNSMessageReader(packet: packet)
        let id = try reader.readUInt16()
        let flags = DNSFlags(rawValue: try reader.readUInt16())
        let questionCount = try reader.readUInt16()
        let answerCount = try reader.readUInt16()
        let authorityCount = try reader.readUInt16()
        let additionalCount = try reader.readUInt16()
        // Counts are untrusted, so nothing is reserved up front; each entry consumes bytes or throws.
        var questions: [DNSQuestion] = []
        for _ in 0..<questionCount {
            questions.append(try reader.readQuestion())
        }
        self.init(
            id: id, flags: flags, questions: questions,
            answers: try reader.readRecords(count: answerCount),
            authorities: try reader.readRecords(count: authorityCount),
            additionals: try reader.readRecords(count: additionalCount))
    }
}

private struct DNSMessageReader {
    /// A name of 255 bytes has at most 127 labels, so a legal name never needs more jumps than this.
    static let maxCompressionPointers = 127

    /// Indexed from 0: compression pointers are offsets from the start of the message.
    private let packet: ByteBuffer
    private var position = 0

    init(packet: ByteBuffer) {
        self.packet = packet.getSlice(at: packet.readerIndex, length: packet.readableBytes) ?? ByteBuffer()
    }

    mutating func readUInt16() throws -> UInt16 {
        guard let value = packet.getInteger(at: position, as: UInt16.self) else { throw DNSMessageError.truncated }
        position += 2
        return value
    }

    mutating func readUInt32() throws -> UInt32 {
        guard let value = packet.getInteger(at: position, as: UInt32.self) else { throw DNSMessageError.truncated }
        position += 4
        return value
    }

    mutating func readBytes(_ count: Int) throws -> [UInt8] {
        guard let bytes = packet.getBytes(at: position, length: count) else { throw DNSMessageError.truncated }
        position += count
        return bytes
    }

    mutating func readQuestion() throws -> DNSQuestion {
        let name = try readName()
        let type = DNSRecordType(rawValue: try readUInt16())
        let recordClass = DNSRecordClass(rawValue: try readUInt16())
        return DNSQuestion(name: name, type: type, recordClass: recordClass)
    }

    mutating func readRecords(count: UInt16) throws -> [DNSResourceRecord] {
        var records: [DNSResourceRecord] = []
        for _ in 0..<count {
            let name = try readName()
            let type = DNSRecordType(rawValue: try readUInt16())
            let recordClass = DNSRecordClass(rawValue: try readUInt16())
            let ttl = try readUInt32()
            let dataLength = try readUInt16()
            let data = try readBytes(Int(dataLength))
            records.append(DNSResourceRecord(name: name, type: type, recordClass: recordClass, ttl: ttl, data: data))
        }
        return records
    }

    /// Reads a possibly compressed name (RFC 1035 section 4.1.4) and moves past it; after a pointer the
    /// name ends in the message, so the reader continues right after the first pointer.
    mutating func readName() throws -> DNSName {
        var labels: [[UInt8]] = []
        var wireLength = 1
        var cursor = position
        var resumePosition: Int?
        var jumps = 0
        while true {
            guard let length = packet.getInteger(at: cursor, as: UInt8.self) else { throw DNSMessageError.truncated }
            switch length & 0xC0 {
            case 0x00 where length == 0:
                position = resumePosition ?? cursor + 1
                return DNSName(validatedLabels: labels)
            case 0x00:
                wireLength += 1 + Int(length)
                guard wireLength <= DNSName.maxWireLength else { throw DNSMessageError.nameTooLong }
                guard let label = packet.getBytes(at: cursor + 1, length: Int(length)) else {
                    throw DNSMessageError.truncated
                }
                labels.append(label)
                cursor += 1 + Int(length)
            case 0xC0:
                guard let low = packet.getInteger(at: cursor + 1, as: UInt8.self) else {
                    throw DNSMessageError.truncated
                }
                jumps += 1
                guard jumps <= Self.maxCompressionPointers else { throw DNSMessageError.tooManyCompressionPointers }
                if resumePosition == nil { resumePosition = cursor + 2 }
                cursor = Int(length & 0x3F) << 8 | Int(low)
            default:
                throw DNSMessageError.unsupportedLabelType
            }
        }
    }
}
