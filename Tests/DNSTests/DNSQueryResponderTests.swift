import Synchronization
import Testing

@testable import DNS

@Suite struct DNSQueryResponderTests {
    private let responder = DNSQueryResponder(
        ttl: 5, searchDomains: TestData.searchDomains + ["mesh.local."],
        lookup: { name in
            switch name {
            case "accountservice":
                DNSServiceAnswer(ipv4: TestData.accountServiceIPv4, ipv6: TestData.accountServiceIPv6)
            case "legacy": DNSServiceAnswer(ipv4: TestData.accountServiceIPv4, ipv6: nil)
            case "broken": DNSServiceAnswer(ipv4: [10, 0, 0], ipv6: nil)
            default: nil
            }
        })

    @Test func answersAWithTheServiceAddress() throws {
        let query = try TestData.query(id: 1, name: "AccountService.", type: .a)
        let response = try #require(responder.localResponse(to: query))

        #expect(response.id == 1)
        #expect(response.flags.isAuthoritative)
        #expect(response.flags.responseCode == .noError)
        #expect(response.questions == query.questions)
        #expect(
            response.answers == [
                DNSResourceRecord(
                    name: query.questions[0].name, type: .a, recordClass: .internet, ttl: 5,
                    data: TestData.accountServiceIPv4)
            ])
    }

    @Test func answersAAAAWithTheServiceAddress() throws {
        let query = try TestData.query(id: 2, name: "accountservice", type: .aaaa)
        let response = try #require(responder.localResponse(to: query))
        #expect(response.answers.map(\.type) == [.aaaa])
        #expect(response.answers.map(\.data) == [TestData.accountServiceIPv6])
    }

    @Test func missingAddressFamilyIsNoDataNotNXDomain() throws {
        let response = try #require(responder.localResponse(to: TestData.query(id: 3, name: "legacy", type: .aaaa)))
        #expect(response.flags.responseCode == .noError)
        #expect(response.answers.isEmpty)
    }

    @Test func malformedRegistryAddressIsNotSent() throws {
        let response = try #require(responder.localResponse(to: TestData.query(id: 4, name: "broken", type: .a)))
        #expect(response.flags.responseCode == .noError)
        #expect(response.answers.isEmpty)
    }

    @Test(arguments: [15, 16, 65, 255] as [UInt16])
    func otherTypesForOwnedNamesHaveNoAnswers(type: UInt16) throws {
        let query = try TestData.query(id: 5, name: "accountservice", type: DNSRecordType(rawValue: type))
        let response = try #require(responder.localResponse(to: query))
        #expect(response.flags.responseCode == .noError)
        #expect(response.flags.isAuthoritative)
        #expect(response.answers.isEmpty)
    }

    @Test(arguments: [
        "accountservice.default.svc.cluster.local",
        "accountservice.svc.cluster.local",
        "accountservice.cluster.local",
        "ACCOUNTSERVICE.Mesh.Local.",
    ])
    func searchDomainsAreStripped(name: String) throws {
        let response = try #require(responder.localResponse(to: TestData.query(id: 6, name: name, type: .a)))
        #expect(response.answers.map(\.data) == [TestData.accountServiceIPv4])
        // The answer carries the name as asked, not the stripped one.
        #expect(response.answers.first?.name == response.questions.first?.name)
    }

    @Test func candidateNamesStripEachSearchDomain() {
        #expect(
            responder.candidateNames(for: "a.default.svc.cluster.local") == [
                "a.default.svc.cluster.local", "a", "a.default", "a.default.svc",
            ])
        // Only whole labels are stripped, and a bare search domain is not a service name.
        #expect(responder.candidateNames(for: "xcluster.local") == ["xcluster.local"])
        #expect(responder.candidateNames(for: "cluster.local") == ["cluster.local"])
    }

    @Test func lookupGetsTheLowercasedNameWithoutTrailingDot() throws {
        let asked = Mutex<[String]>([])
        let recording = DNSQueryResponder(
            ttl: 5, searchDomains: [],
            lookup: { name in
                asked.withLock { $0.append(name) }
                return nil
            })
        _ = recording.localResponse(to: try TestData.query(id: 7, name: "Example.TEST.", type: .a))
        #expect(asked.withLock { $0 } == ["example.test"])
    }

    @Test func queriesMesherDoesNotAnswerAreLeftForForwarding() throws {
        #expect(responder.localResponse(to: try TestData.query(id: 8, name: "example.test", type: .a)) == nil)

        var twoQuestions = try TestData.query(id: 9, name: "accountservice", type: .a)
        twoQuestions.questions.append(twoQuestions.questions[0])
        #expect(responder.localResponse(to: twoQuestions) == nil)

        let chaos = try TestData.query(id: 10, name: "accountservice", type: .a, recordClass: .init(rawValue: 3))
        #expect(responder.localResponse(to: chaos) == nil)

        var notify = try TestData.query(id: 11, name: "accountservice", type: .a)
        notify.flags.opcode = 4
        #expect(responder.localResponse(to: notify) == nil)

        #expect(responder.localResponse(to: try TestData.query(id: 12, name: ".", type: .a)) == nil)
    }
}
