import NIOCore
import Testing

@testable import DNS

@Suite struct DNSMessageTests {
    private func decode(_ bytes: [UInt8]) throws -> DNSMessage {
        try DNSMessage(decoding: ByteBuffer(bytes: bytes))
    }

    private func addressResponse(type: DNSRecordType, address: [UInt8]) throws -> DNSMessage {
        let query = try TestData.query(id: 0xBEEF, name: "accountservice.default.svc.cluster.local", type: type)
        let record = DNSResourceRecord(
            name: query.questions[0].name, type: type, recordClass: .internet, ttl: 5, data: address)
        return .response(to: query, code: .noError, authoritative: true, answers: [record])
    }

    @Test func aResponseRoundTrips() throws {
        let response = try addressResponse(type: .a, address: TestData.accountServiceIPv4)
        let bytes = Array(buffer: response.encoded)

        #expect(try decode(bytes) == response)
        // Header: id, QR+AA+RD+RA, one question, one answer.
        #expect(Array(bytes[0..<12]) == [0xBE, 0xEF, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0])
        // The answer's name is a pointer to the question's name at offset 12, then A, IN, TTL 5, 4 bytes.
        #expect(Array(bytes.suffix(16)) == [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 240, 240, 0, 7])
    }

    @Test func aaaaResponseRoundTrips() throws {
        let response = try addressResponse(type: .aaaa, address: TestData.accountServiceIPv6)
        let decoded = try decode(Array(buffer: response.encoded))

        #expect(decoded == response)
        #expect(decoded.answers.first?.type == .aaaa)
        #expect(decoded.answers.first?.data == TestData.accountServiceIPv6)
    }

    @Test func responseFlagsFollowTheQuery() throws {
        var query = try TestData.query(id: 7, name: "example.test", type: .a)
        query.flags.recursionDesired = false
        let failure = DNSMessage.response(to: query, code: .serverFailure, authoritative: false)

        #expect(failure.id == 7)
        #expect(failure.flags.isResponse)
        #expect(!failure.flags.recursionDesired)
        #expect(failure.flags.recursionAvailable)
        #expect(!failure.flags.isAuthoritative)
        #expect(failure.flags.responseCode == .serverFailure)
        #expect(failure.questions == query.questions)
    }

    @Test func decodesAQueryCapturedFromDig() throws {
        let query = try decode(TestData.digAccountServiceQuery)

        #expect(query.id == 0x3419)
        #expect(!query.flags.isResponse)
        #expect(query.flags.opcode == 0)
        #expect(query.flags.recursionDesired)
        #expect(query.questions.count == 1)
        #expect(query.questions.first?.name.description == "AccountService.default.svc.cluster.local")
        #expect(query.questions.first?.name.lowercased == "accountservice.default.svc.cluster.local")
        #expect(query.questions.first?.type == .a)
        #expect(query.questions.first?.recordClass == .internet)
        // EDNS OPT: root name, UDP payload size 1232 in the class field, a cookie option as data.
        #expect(query.additionals.count == 1)
        #expect(query.additionals.first?.type == .opt)
        #expect(query.additionals.first?.name.labels == [])
        #expect(query.additionals.first?.recordClass.rawValue == 1232)
        #expect(query.additionals.first?.data.count == 12)
        // Re-encoding reproduces dig's bytes exactly.
        #expect(Array(buffer: query.encoded) == TestData.digAccountServiceQuery)
    }

    @Test func decodesAMessageAtANonZeroReaderIndex() throws {
        var buffer = ByteBuffer(bytes: [0xFF, 0xFF] + TestData.digExampleTestQuery)
        buffer.moveReaderIndex(forwardBy: 2)
        // Compression offsets count from the message start, not from the buffer's storage.
        let query = try DNSMessage(decoding: buffer)
        #expect(query.questions.first?.name.description == "example.test")
        #expect(query.questions.first?.type == .aaaa)
    }

    /// A response whose answers use compression: the first answer points at the question, the second
    /// is "www" followed by a pointer into the middle of the question name.
    private static let compressedResponse: [UInt8] =
        [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]
        + [7] + Array("example".utf8) + [4] + Array("test".utf8) + [0, 0, 1, 0, 1]  // question at 12
        + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]
        + [3] + Array("www".utf8) + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 2]

    @Test func followsCompressionPointers() throws {
        let response = try decode(Self.compressedResponse)

        #expect(response.answers.map(\.name.description) == ["example.test", "www.example.test"])
        #expect(response.answers.map(\.data) == [[192, 0, 2, 1], [192, 0, 2, 2]])
    }

    @Test func pointerToASuffixInsideAName() throws {
        var bytes = Self.compressedResponse
        bytes[bytes.count - 15] = 20  // second answer's pointer now targets "test" (offset 20)
        let response = try decode(bytes)
        #expect(response.answers.last?.name.description == "www.test")
    }

    @Test func pointerLoopsThrow() throws {
        let header: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        // A pointer to itself.
        #expect(throws: DNSMessageError.tooManyCompressionPointers) {
            try decode(header + [0xC0, 12, 0, 1, 0, 1])
        }
        // Two pointers pointing at each other.
        #expect(throws: DNSMessageError.tooManyCompressionPointers) {
            try decode(header + [0xC0, 14, 0xC0, 12, 0, 1, 0, 1])
        }
        // A label followed by a pointer back to it: the name grows on every turn.
        #expect(throws: DNSMessageError.nameTooLong) {
            try decode(header + [1, 0x61, 0xC0, 12, 0, 1, 0, 1])
        }
    }

    @Test func invalidNamesThrow() throws {
        let header: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        let label63 = [63] + [UInt8](repeating: 0x61, count: 63)
        #expect(throws: DNSMessageError.nameTooLong) {
            try decode(header + label63 + label63 + label63 + label63 + [0, 0, 1, 0, 1])
        }
        #expect(throws: DNSMessageError.truncated) {
            try decode(header + [0xC0, 0xFF, 0, 1, 0, 1])  // pointer past the end
        }
        #expect(throws: DNSMessageError.unsupportedLabelType) {
            try decode(header + [0x41, 0, 0, 1, 0, 1])
        }
        // The longest legal name, 255 bytes on the wire, is fine.
        let label61 = [61] + [UInt8](repeating: 0x62, count: 61)
        let longest = try decode(header + label63 + label63 + label63 + label61 + [0, 0, 1, 0, 1])
        #expect(longest.questions.first?.name.wireLength == 255)
    }

    @Test func namesFromTextAreValidated() throws {
        #expect(try DNSName("example.test.") == DNSName("example.test"))
        #expect(try DNSName(".").labels.isEmpty)
        #expect(throws: DNSMessageError.emptyLabel) { try DNSName("a..b") }
        #expect(throws: DNSMessageError.labelTooLong) { try DNSName(String(repeating: "a", count: 64)) }
        let tooLong = Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: ".")
        #expect(throws: DNSMessageError.nameTooLong) { try DNSName(tooLong) }
    }

    /// Failed FuzzDNS's SERVFAIL check (on a crafted input, larger than the fuzzer's): 66 names of 255 bytes take
    /// the reply past the 16 KiB that compression pointers reach, then 760 questions that are pointers to one name
    /// (hidden in the first label) are written out in full: 22 KB of query, 68 KB of SERVFAIL echoing it, which no
    /// TCP frame can carry (its length was clamped to 65535).
    @Test func serverFailureFitsAMessage() throws {
        var questions: [UInt8] = []
        for index in 0..<66 {
            let letter = UInt8(ascii: "A") + UInt8(index % 26)
            for length in [63, 63, 63, 61] {
                questions += [UInt8(length)] + Array(repeating: letter, count: length - 1) + [UInt8(index / 26)]
            }
            questions += [0, 0, 1, 0, 1]
        }
        // The first label's content is itself a name, at offset 13.
        let hidden: [UInt8] = [61] + Array(repeating: UInt8(ascii: "z"), count: 61) + [0]
        questions.replaceSubrange(13 - 12..<13 - 12 + hidden.count, with: hidden)
        for _ in 0..<760 { questions += [0xC0, 13, 0, 16, 0, 1] }
        let header: [UInt8] = [0x42, 0x42, 0x01, 0x00, 0x03, 0x3A, 0, 0, 0, 0, 0, 0]  // 826 questions
        let query = try decode(header + questions)
        #expect(query.questions.count == 826)
        #expect(query.questions.last?.name.wireLength == 63)
        #expect(
            DNSMessage.response(to: query, code: .serverFailure, authoritative: false).encoded.readableBytes > 65535)

        let failure = DNSQueryProcessor.serverFailure(to: query)
        #expect(failure.readableBytes <= DNSMessage.maxLength)
        let reply = try DNSMessage(decoding: failure)
        #expect(reply.id == 0x4242 && reply.flags.responseCode == .serverFailure && reply.questions.isEmpty)
        // An ordinary query still gets its question back.
        let small = try decode(TestData.digExampleTestQuery)
        #expect(try DNSMessage(decoding: DNSQueryProcessor.serverFailure(to: small)).questions == small.questions)
    }

    @Test(arguments: [TestData.digAccountServiceQuery, TestData.digExampleTestQuery, compressedResponse])
    func everyTruncationThrows(packet: [UInt8]) throws {
        _ = try decode(packet)
        for length in 0..<packet.count {
            #expect(throws: DNSMessageError.truncated, "length \(length)") {
                try decode(Array(packet.prefix(length)))
            }
        }
    }

    /// Random and mutated packets never trap; whatever decodes survives an encode/decode round trip.
    @Test func fuzzedPacketsDecodeOrThrow() throws {
        var random = SplitMix64(seed: 0x5EED)
        let seeds = [TestData.digAccountServiceQuery, TestData.digExampleTestQuery, Self.compressedResponse]
        var decodedCount = 0
        for round in 0..<6000 {
            var packet: [UInt8]
            if round % 2 == 0 {
                packet = (0..<Int.random(in: 0..<300, using: &random)).map { _ in
                    UInt8.random(in: 0...255, using: &random)
                }
                // Small counts make it past the header more often.
                for index in stride(from: 4, to: min(12, packet.count), by: 2) { packet[index] = 0 }
            } else {
                packet = seeds[round % seeds.count]
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    packet[Int.random(in: 0..<packet.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            }
            guard let message = try? decode(packet) else { continue }
            decodedCount += 1
            #expect(try decode(Array(buffer: message.encoded)) == message)
        }
        // Most mutations of valid packets still decode, so the round trip above is really exercised.
        #expect(decodedCount > 1000)
    }
}

/// Deterministic, so a fuzz failure can be reproduced.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
