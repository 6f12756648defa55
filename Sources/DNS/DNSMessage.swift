/// A DNS message (RFC 1035 section 4.1). Record data is kept as raw bytes: Mesher only builds A/AAAA
/// records and never needs to look inside the records of the messages it relays.
struct DNSMessage: Sendable, Equatable {
    /// The most a message can be: TCP frames it with a 16-bit length.
    static let maxLength = Int(UInt16.max)

    var id: UInt16
    var flags: DNSFlags
    var questions: [DNSQuestion]
    var answers: [DNSResourceRecord]
    var authorities: [DNSResourceRecord]
    var additionals: [DNSResourceRecord]

    init(
        id: UInt16, flags: DNSFlags, questions: [DNSQuestion], answers: [DNSResourceRecord] = [],
        authorities: [DNSResourceRecord] = [], additionals: [DNSResourceRecord] = []
    ) {
        self.id = id
        self.flags = flags
        self.questions = questions
        self.answers = answers
        self.authorities = authorities
        self.additionals = additionals
    }

    /// A response to `query`: same id, opcode, RD bit and questions; recursion is always available
    /// because whatever Mesher does not answer itself it forwards.
    static func response(
        to query: DNSMessage, code: DNSResponseCode, authoritative: Bool, answers: [DNSResourceRecord] = []
    ) -> DNSMessage {
        var flags = DNSFlags()
        flags.isResponse = true
        flags.opcode = query.flags.opcode
        flags.isAuthoritative = authoritative
        flags.recursionDesired = query.flags.recursionDesired
        flags.recursionAvailable = true
        flags.responseCode = code
        return DNSMessage(id: query.id, flags: flags, questions: query.questions, answers: answers)
    }
}

/// The second 16-bit word of the header: QR, OPCODE, AA, TC, RD, RA, Z/AD/CD and RCODE.
struct DNSFlags: Sendable, Equatable {
    var rawValue: UInt16

    init(rawValue: UInt16 = 0) {
        self.rawValue = rawValue
    }

    var isResponse: Bool {
        get { bit(15) }
        set { setBit(15, newValue) }
    }

    /// 0 is a standard query; the others (NOTIFY, UPDATE, ...) are always forwarded.
    var opcode: UInt8 {
        get { UInt8(truncatingIfNeeded: rawValue >> 11) & 0x0F }
        set { rawValue = (rawValue & ~0x7800) | (UInt16(newValue & 0x0F) << 11) }
    }

    var isAuthoritative: Bool {
        get { bit(10) }
        set { setBit(10, newValue) }
    }

    var recursionDesired: Bool {
        get { bit(8) }
        set { setBit(8, newValue) }
    }

    var recursionAvailable: Bool {
        get { bit(7) }
        set { setBit(7, newValue) }
    }

    var responseCode: DNSResponseCode {
        get { DNSResponseCode(rawValue: UInt8(truncatingIfNeeded: rawValue) & 0x0F) }
        set { rawValue = (rawValue & ~0x000F) | UInt16(newValue.rawValue & 0x0F) }
    }

    private func bit(_ index: UInt16) -> Bool {
        rawValue & (1 << index) != 0
    }

    private mutating func setBit(_ index: UInt16, _ value: Bool) {
        if value { rawValue |= 1 << index } else { rawValue &= ~(1 << index) }
    }
}

struct DNSResponseCode: RawRepresentable, Sendable, Hashable {
    var rawValue: UInt8

    static let noError = DNSResponseCode(rawValue: 0)
    static let serverFailure = DNSResponseCode(rawValue: 2)
}

struct DNSRecordType: RawRepresentable, Sendable, Hashable {
    var rawValue: UInt16

    static let a = DNSRecordType(rawValue: 1)
    static let aaaa = DNSRecordType(rawValue: 28)
    /// EDNS pseudo-record (RFC 6891), found in the additional section of most modern queries.
    static let opt = DNSRecordType(rawValue: 41)
}

struct DNSRecordClass: RawRepresentable, Sendable, Hashable {
    var rawValue: UInt16

    static let internet = DNSRecordClass(rawValue: 1)
}

struct DNSQuestion: Sendable, Equatable {
    var name: DNSName
    var type: DNSRecordType
    var recordClass: DNSRecordClass
}

struct DNSResourceRecord: Sendable, Equatable {
    var name: DNSName
    var type: DNSRecordType
    /// For OPT records this is the requester's UDP payload size, not a class.
    var recordClass: DNSRecordClass
    var ttl: UInt32
    var data: [UInt8]
}
