import Testing

@testable import Capture

struct ParsingTests {
    @Test(arguments: [
        ("10.1.2.3/8", "10.0.0.0/8"), ("198.18.0.1", "198.18.0.1/32"), ("0.0.0.0/0", "0.0.0.0/0"),
        ("2001:db8::1/32", "2001:db8::/32"), ("::1", "::1/128"), ("240.240.7.7/16", "240.240.0.0/16"),
    ])
    func cidrNormalises(_ input: String, _ expected: String) throws {
        #expect(try CIDR(parsing: input).description == expected)
    }

    @Test(arguments: [
        "", "10.0.0.0/33", "::/129", "10.0.0/8", "host.example", "10.0.0.0/8/1", "10.0.0.0/-1", "1.2.3.4/",
    ])
    func cidrRejects(_ input: String) {
        #expect(throws: CaptureInputError.self) { try CIDR(parsing: input) }
    }

    @Test func cidrListSkipsBlanksAndKeepsFamilies() throws {
        let list = try CIDR.list(parsing: " 10.0.0.0/8 , ,2001:db8::/32")
        #expect(list.map(\.family) == [.ipv4, .ipv6])
        #expect(try CIDR.list(parsing: "").isEmpty)
    }

    @Test func portsAndRanges() throws {
        #expect(try PortRange.list(parsing: "22, 8000-8010").map(\.description) == ["22", "8000:8010"])
        #expect(try PortSelection(parsing: "*") == .all)
        #expect(try PortSelection(parsing: "") == .none)
    }

    @Test(arguments: ["0", "65536", "-1", "80-70", "http", "1-2-3", "8080-"])
    func portRejects(_ input: String) {
        #expect(throws: CaptureInputError.self) { try PortRange(parsing: input) }
    }
}
