/// Decides whether a query is Mesher's to answer and builds the answer.
struct DNSQueryResponder: Sendable {
    let ttl: UInt32
    /// Lowercased, without leading or trailing dots.
    let searchDomains: [String]
    let lookup: @Sendable (String) -> DNSServiceAnswer?

    init(ttl: UInt32, searchDomains: [String], lookup: @escaping @Sendable (String) -> DNSServiceAnswer?) {
        self.ttl = ttl
        self.searchDomains = searchDomains.map(DNSServerConfiguration.normalizedDomain).filter { !$0.isEmpty }
        self.lookup = lookup
    }

    /// Mesher's own response, or nil when the query is not about a name Mesher owns and must be forwarded
    /// (including anything other than a standard query with one IN question).
    func localResponse(to query: DNSMessage) -> DNSMessage? {
        guard query.flags.opcode == 0, query.questions.count == 1, let question = query.questions.first,
            question.recordClass == .internet, let service = service(named: question.name.lowercased)
        else { return nil }

        // A name that exists without the asked type is NODATA (NOERROR, no answers), never NXDOMAIN:
        // NXDOMAIN would make the client give up on the other address family too.
        let answers: [DNSResourceRecord]
        switch question.type {
        case .a: answers = addressRecords(question.name, .a, service.ipv4, length: 4)
        case .aaaa: answers = addressRecords(question.name, .aaaa, service.ipv6, length: 16)
        default: answers = []
        }
        return .response(to: query, code: .noError, authoritative: true, answers: answers)
    }

    /// The service behind `name`, trying the name as asked, then with each search domain stripped
    /// ("accountservice.default.svc.cluster.local" -> "accountservice").
    func service(named name: String) -> DNSServiceAnswer? {
        guard !name.isEmpty else { return nil }
        for candidate in candidateNames(for: name) {
            if let service = lookup(candidate) { return service }
        }
        return nil
    }

    func candidateNames(for name: String) -> [String] {
        var candidates = [name]
        for domain in searchDomains where name.hasSuffix("." + domain) {
            let stripped = String(name.dropLast(domain.count + 1))
            if !candidates.contains(stripped) { candidates.append(stripped) }
        }
        return candidates
    }

    private func addressRecords(_ name: DNSName, _ type: DNSRecordType, _ address: [UInt8]?, length: Int)
        -> [DNSResourceRecord]
    {
        // A malformed address from the registry is treated as absent rather than sent as a broken record.
        guard let address, address.count == length else { return [] }
        return [DNSResourceRecord(name: name, type: type, recordClass: .internet, ttl: ttl, data: address)]
    }
}
