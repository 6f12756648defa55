import HTTP1
import Limits
import MesherBase

/// One rule as an event loop uses it: its regular expressions compiled for this loop.
final class CompiledRule {
    let rule: RouteRule
    /// "service#index" (from 0), for the access log.
    let name: String
    let limiter: RequestRateLimiter?
    private let pathRegex: PosixRegex?
    private let headerRegexes: [PosixRegex?]
    /// The header names and `exact` values as bytes, compared in place.
    private let headerNames: [[UInt8]]
    private let headerValues: [[UInt8]?]
    private let queryRegexes: [PosixRegex?]
    let totalWeight: Int
    /// Whether the rule reads the path (then the normalized path also goes upstream, or its rewrite).
    let readsPath: Bool
    /// The fields its header edits take out of the request (removed, or set anew), as lowercase bytes.
    let droppedFields: Set<[UInt8]>

    init(_ shared: RoutingRules.SharedRule, name: String) {
        rule = shared.rule
        self.name = name
        limiter = shared.limiter
        let match = shared.rule.match
        if case .regex(let pattern) = match.path { pathRegex = try? PosixRegex(pattern) } else { pathRegex = nil }
        headerRegexes = match.headers.map { Self.compile($0.rule) }
        headerNames = match.headers.map { Array($0.name.utf8) }
        headerValues = match.headers.map { if case .exact(let value) = $0.rule { Array(value.utf8) } else { nil } }
        queryRegexes = match.query.map { Self.compile($0.rule) }
        if case .forward(let subsets) = shared.rule.action {
            totalWeight = subsets.reduce(0) { $0 + $1.weight }
        } else {
            totalWeight = 0
        }
        readsPath = match.path != nil || shared.rule.rewritePrefix != nil
        let edits = shared.rule.requestHeaders
        droppedFields = Set((edits.remove + edits.replace.map(\.name)).map { Array($0.utf8) })
    }

    private static func compile(_ rule: ValueMatch) -> PosixRegex? {
        if case .regex(let pattern) = rule { try? PosixRegex(pattern) } else { nil }
    }

    func matches(_ request: inout RequestView) -> Bool {
        let match = rule.match
        if let method = match.method, request.head.method != method { return false }
        if let path = match.path, !matches(path, request.path) { return false }
        for (index, header) in match.headers.enumerated() where !matchesHeader(index, header.rule, request.head) {
            return false
        }
        if match.query.isEmpty { return true }
        let parameters = request.query
        for (index, parameter) in match.query.enumerated() {
            let values = parameters.filter { $0.name == parameter.name }.map(\.value)
            if !matches(parameter.rule, values, queryRegexes[index]) { return false }
        }
        return true
    }

    private func matches(_ path: PathMatch, _ actual: String) -> Bool {
        switch path {
        case .exact(let expected): actual == expected
        case .prefix(let prefix): Self.hasPathPrefix(actual, prefix)
        case .regex: pathRegex?.matches(actual) ?? false
        }
    }

    /// A header rule against every field of the name: `exact` and `regex` hold when one of them does.
    private func matchesHeader(_ index: Int, _ rule: ValueMatch, _ head: HTTP1Head) -> Bool {
        let name = headerNames[index]
        switch rule {
        case .present: return head.containsField(named: name)
        case .absent: return !head.containsField(named: name)
        case .exact:
            let expected = headerValues[index] ?? []
            return head.containsField(named: name) { $0.elementsEqual(expected) }
        case .regex:
            let regex = headerRegexes[index]
            return head.containsField(named: name) { regex?.matches(String(decoding: $0, as: UTF8.self)) ?? false }
        }
    }

    /// A value rule against every value of the name: `exact` and `regex` hold when one of them does.
    private func matches(_ rule: ValueMatch, _ values: [String], _ regex: PosixRegex?) -> Bool {
        switch rule {
        case .present: !values.isEmpty
        case .absent: values.isEmpty
        case .exact(let expected): values.contains(expected)
        case .regex: values.contains { regex?.matches($0) ?? false }
        }
    }

    /// "/v2" is a prefix of "/v2" and "/v2/x" but not of "/v20"; "/v2/" only of what is below it.
    static func hasPathPrefix(_ path: String, _ prefix: String) -> Bool {
        guard path.hasPrefix(prefix) else { return false }
        if prefix.hasSuffix("/") || path.utf8.count == prefix.utf8.count { return true }
        return path.utf8[path.utf8.index(path.utf8.startIndex, offsetBy: prefix.utf8.count)] == UInt8(ascii: "/")
    }

    /// The matched path after the rule's rewrite: the matched prefix (the whole path for other matches) replaced.
    func rewritten(_ path: String) -> String {
        guard let replacement = rule.rewritePrefix else { return path }
        guard case .prefix(let prefix) = rule.match.path, Self.hasPathPrefix(path, prefix) else { return replacement }
        var rest = path.dropFirst(prefix.count)
        if replacement.hasSuffix("/") && rest.hasPrefix("/") { rest = rest.dropFirst() }
        if !replacement.hasSuffix("/") && !rest.isEmpty && !rest.hasPrefix("/") { return replacement + "/" + rest }
        return replacement + rest
    }
}

/// What route rules look at in a request, each part worked out once and only when a rule asks.
struct RequestView {
    let head: HTTP1Head
    private lazy var parts = RequestPath.split(head)
    /// What rules match (no path parameters).
    lazy var path = RequestPath.withoutParameters(forwardedPath)
    /// What goes upstream when a rule read the path and did not rewrite it.
    lazy var forwardedPath = RequestPath.forwarded(parts.path)
    lazy var query = RequestPath.parameters(parts.query)

    init(head: HTTP1Head) { self.head = head }

    /// The path and the query as they came, for a rewritten target.
    var rawPath: Substring {
        mutating get { parts.path }
    }
    var rawQuery: Substring? {
        mutating get { parts.query }
    }
}
