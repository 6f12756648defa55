import Testing

@testable import MesherBase

struct SocketMarkTests {
    @Test(
        arguments: [
            ("0x539", 0x539), ("0X539", 0x539), ("1337", 1337), (" 0x10 ", 0x10), ("0", 0), ("0xffffffff", 0xFFFF_FFFF),
        ] as [(String, UInt32)])
    func parsesHexadecimalAndDecimal(_ text: String, _ mark: UInt32) {
        #expect(SocketMark.parse(text) == mark)
    }

    /// A sign, an empty body, other bases' prefixes and values past 32 bits are no mark.
    @Test(arguments: ["", "0x", "+1", "-1", "0x+1", "purple", "0b101", "1.5", "0x1_0", "4294967296", "٣"])
    func refusesAnythingElse(_ text: String) {
        #expect(SocketMark.parse(text) == nil)
    }

    @Test func writesHexadecimalAsIptablesDoes() {
        #expect(SocketMark.text(MesherDefaults.proxyMark) == "0x539")
        #expect(SocketMark.parse(SocketMark.text(MesherDefaults.queueMark)) == MesherDefaults.queueMark)
    }
}

struct IPAddressTextTests {
    @Test func readsBothFamilies() {
        #expect(IPAddressText.ipv4("198.18.0.2") == [198, 18, 0, 2])
        #expect(IPAddressText.ipv6("2001:db8::2") == [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [2])
        #expect(IPAddressText.ipv6("198.18.0.2") == nil && IPAddressText.ipv4("::1") == nil)
    }

    @Test(arguments: ["", "localhost", "[::1]", "198.18.0.2:80", "198.18.0.256", "2001:db8::/32", " 198.18.0.2"])
    func refusesWhatIsNoAddress(_ text: String) {
        #expect(!IPAddressText.isValid(text))
    }

    /// 0.0.0.0 and `::` are this host to connect(); multicast and broadcast are many: no registry instance's.
    @Test(
        arguments: [
            ("198.18.0.2", true), ("127.0.0.1", true), ("2001:db8::2", true), ("::1", true), ("223.255.255.255", true),
            ("::ffff:198.18.0.2", true), ("0.0.0.0", false), ("0.1.2.3", false), ("::", false),
            ("::ffff:0.0.0.0", false), ("224.0.0.1", false), ("239.255.255.250", false), ("::ffff:224.0.0.1", false),
            ("ff02::1", false), ("255.255.255.255", false), ("::ffff:255.255.255.255", false),
        ])
    func tellsOneHostsAddressesApart(_ text: String, _ isOneHost: Bool) throws {
        let bytes = try #require(IPAddressText.ipv4(text) ?? IPAddressText.ipv6(text))
        #expect(IPAddressText.isOneHost(bytes) == isOneHost)
        #expect(
            IPAddressText.ipv4Part(of: bytes).map(Array.init) == IPAddressText.ipv4(text.replacing("::ffff:", with: ""))
        )
    }
}

/// The defaults that the capture rules and the listeners must share do not collide.
@Test func defaultPortsAndMarksAreDistinct() {
    let ports = [
        MesherDefaults.outboundPort, MesherDefaults.inboundPort, MesherDefaults.dnsPort, MesherDefaults.adminPort,
        MesherDefaults.explicitProxyPort,
    ]
    #expect(Set(ports).count == ports.count)
    #expect(MesherDefaults.proxyMark & MesherDefaults.queueMark == 0)
}

struct PosixRegexTests {
    @Test func matchesAnywhereUnlessAnchored() throws {
        #expect(try PosixRegex("^/admin").matches("/administrator"))
        #expect(try !PosixRegex("^/admin").matches("/x/admin"))
        #expect(try PosixRegex("admin").matches("/x/admin"))
        #expect(try PosixRegex("^/v[0-9]+/").matches("/v12/x") && !PosixRegex("^/v[0-9]+/").matches("/vx/"))
        #expect(try PosixRegex("^$").matches("") && !PosixRegex("^$").matches("x"))
        #expect(try PosixRegex("b$").matches("ab") && !PosixRegex("b$").matches("ba"), "the text's own end")
    }

    @Test func refusesWhatItCannotRunSafely() {
        #expect(throws: PosixRegex.Invalid.self) { try PosixRegex("(a)\\1") }
        #expect(throws: PosixRegex.Invalid.self) { try PosixRegex("(a") }
    }

    /// Nested quantifiers that make a backtracking engine take exponential time: libc answers at once.
    @Test func hostileInputTakesLinearTime() throws {
        let regex = try PosixRegex("^(a+)+$")
        #expect(!regex.matches(String(repeating: "a", count: 5_000) + "!"))
    }
}
