import HTTP1
import Limits
import MesherBase
import NIOCore
import Testing

@testable import Proxy

struct RouteRulesTests {
    static func head(_ text: String) throws -> HTTP1Head {
        var parser = HTTP1HeadParser(role: .request, limits: ProxySettings().httpLimits)
        var buffer = ByteBuffer(string: text)
        guard case .head(let parsed) = parser.parse(&buffer) else { throw ChannelError.inappropriateOperationForState }
        return parsed
    }

    static func get(_ target: String, _ fields: String = "") throws -> HTTP1Head {
        try head("GET \(target) HTTP/1.1\r\nHost: svc\r\n\(fields)\r\n")
    }

    static func routes(_ rules: [RouteRule], inbound: RateLimit? = nil) -> LoopRoutes {
        LoopRoutes(RoutingRules(rules: ["svc": rules], inbound: inbound))
    }

    @Test(arguments: [
        ("/a/b", "/a/b"), ("/a//b", "/a/b"), ("/./admin", "/admin"), ("/x/../admin", "/admin"), ("/..", "/"),
        ("/%61dmin", "/admin"), ("/%2e%2e/admin", "/admin"), ("/a%2fb", "/a%2Fb"), ("/a/b/", "/a/b/"),
        ("//admin//", "/admin/"), ("/a/.", "/a/"), ("/%7euser", "/~user"), ("/a%zz", "/a%zz"),
    ])
    func pathsAreNormalizedAsTheAppWouldReadThem(_ raw: String, _ normalized: String) {
        #expect(RequestPath.forwarded(Substring(raw)) == normalized)
        #expect(RequestPath.withoutParameters(normalized) == normalized)
    }

    /// Rules see a path without its ";parameters" (as Tomcat, Spring and Jetty read it); upstream they stay, but
    /// on a segment that is empty or a dot segment without them.
    @Test(arguments: [
        ("/admin;x", "/admin;x", "/admin"), ("/;/secret", "/secret", "/secret"), ("/a;p=1/b;q", "/a;p=1/b;q", "/a/b"),
        ("/x/..;/admin", "/admin", "/admin"), ("/x/.;y/admin", "/x/admin", "/x/admin"), ("/a;x/", "/a;x/", "/a/"),
        ("/a/;x", "/a/", "/a/"), ("/a;x//b", "/a;x/b", "/a/b"), ("/%61dmin;%2f", "/admin;%2F", "/admin"),
        ("/admin%3Bx", "/admin%3Bx", "/admin%3Bx"), ("/secret/;/../public", "/public", "/public"),
    ])
    func pathParametersAreNotMatched(_ raw: String, _ forwarded: String, _ matched: String) {
        #expect(RequestPath.forwarded(Substring(raw)) == forwarded)
        #expect(RequestPath.withoutParameters(forwarded) == matched)
    }

    @Test func splitsTargetAndQuery() throws {
        let parts = RequestPath.split(try Self.get("/p?a=1&b=%41&c"))
        #expect(parts.path == "/p" && parts.query == "a=1&b=%41&c")
        let parameters = RequestPath.parameters(parts.query)
        #expect(parameters.map(\.name) == ["a", "b", "c"] && parameters.map(\.value) == ["1", "A", ""])
        #expect(RequestPath.split(try Self.get("http://svc")).path == "/", "absolute form without a path")
    }

    @Test func everyPartOfAMatchMustHold() throws {
        var rule = RouteRule()
        rule.match.path = .prefix("/v2")
        rule.match.method = "GET"
        rule.match.headers = [("x-canary", .exact("1")), ("x-debug", .absent)]
        rule.match.query = [("user", .regex("^[0-9]+$"))]
        let compiled = CompiledRule(RoutingRules.SharedRule(rule: rule, limiter: nil), name: "svc#0")
        func matches(_ head: HTTP1Head) -> Bool {
            var view = RequestView(head: head)
            return compiled.matches(&view)
        }
        #expect(matches(try Self.get("/v2/x?user=42", "X-Canary: 1\r\n")))
        #expect(matches(try Self.get("/v2?user=42", "x-canary: 0\r\nx-canary: 1\r\n")), "any of the values")
        #expect(!matches(try Self.get("/v20?user=42", "X-Canary: 1\r\n")), "not a segment prefix")
        #expect(!matches(try Self.get("/v2/x?user=4a", "X-Canary: 1\r\n")))
        #expect(!matches(try Self.get("/v2/x?user=42", "X-Canary: 1\r\nX-Debug: 1\r\n")))
        #expect(!matches(try Self.get("/v2/x?user=42")))
        #expect(!matches(try Self.head("PUT /v2/x?user=42 HTTP/1.1\r\nHost: svc\r\nX-Canary: 1\r\n\r\n")))
        #expect(matches(try Self.get("/v1/../v2//x?user=42", "X-Canary: 1\r\n")), "on the normalized path")
    }

    @Test func rewriteReplacesTheMatchedPrefix() {
        func rewrite(_ path: String, prefix: String, to replacement: String) -> String {
            var rule = RouteRule()
            rule.match.path = .prefix(prefix)
            rule.rewritePrefix = replacement
            return CompiledRule(RoutingRules.SharedRule(rule: rule, limiter: nil), name: "").rewritten(path)
        }
        #expect(rewrite("/v2/x", prefix: "/v2/", to: "/") == "/x")
        #expect(rewrite("/v2/x", prefix: "/v2", to: "/") == "/x")
        #expect(rewrite("/v2", prefix: "/v2", to: "/") == "/")
        #expect(rewrite("/v2/x", prefix: "/v2", to: "/api") == "/api/x")
        #expect(rewrite("/v2/x", prefix: "/v2/", to: "/api") == "/api/x")
    }

    @Test func weightsApplyPerRequest() throws {
        var rule = RouteRule()
        rule.action = .forward([
            WeightedSubset(subset: SubsetSelector(version: "1"), weight: 90),
            WeightedSubset(subset: SubsetSelector(version: "2"), weight: 10),
        ])
        let routes = Self.routes([rule])
        let head = try Self.get("/")
        var v2 = 0
        for _ in 0..<20_000 {
            let decision = try #require(routes.decide(head, service: "svc", policy: TrafficPolicy(), now: 0))
            if decision.subset?.version == "2" { v2 += 1 }
            #expect(decision.ruleName == "svc#0" && decision.answer == nil && decision.edits == nil)
        }
        #expect((1_700...2_300).contains(v2), "10 % of 20,000: \(v2)")
        #expect(routes.decide(head, service: "other", policy: TrafficPolicy(), now: 0) == nil)
    }

    @Test func faultsHitTheirShare() throws {
        var rule = RouteRule()
        var fault = FaultInjection()
        fault.abort = (503, 10)
        fault.delay = (1_000_000, 50)
        rule.fault = fault
        let routes = Self.routes([rule])
        let head = try Self.get("/")
        var aborted = 0
        var delayed = 0
        for _ in 0..<20_000 {
            let decision = try #require(routes.decide(head, service: "svc", policy: TrafficPolicy(), now: 0))
            if decision.answer == .faultAbort(status: 503) { aborted += 1 }
            if decision.delay == .milliseconds(1) { delayed += 1 }
        }
        #expect((1_700...2_300).contains(aborted), "10 %: \(aborted)")
        #expect((8_400...9_600).contains(delayed), "50 % of the 90 % not aborted: \(delayed)")
    }

    @Test func directResponseEditsAndOverrides() throws {
        var deny = RouteRule()
        deny.match.path = .regex("^/admin")
        deny.action = .directResponse(status: 403, body: "no")
        var edit = RouteRule()
        edit.match.path = .prefix("/v2/")
        edit.rewritePrefix = "/"
        edit.requestHeaders.replace = [("x-route", "v2")]
        edit.timeout = 1_000_000_000
        let routes = Self.routes([deny, edit])
        let denied = routes.decide(try Self.get("//admin/x"), service: "svc", policy: TrafficPolicy(), now: 0)
        #expect(denied?.answer == .direct(status: 403, body: "no") && denied?.ruleName == "svc#0")
        let edited = try #require(
            routes.decide(try Self.get("/v2/a?b=1"), service: "svc", policy: TrafficPolicy(), now: 0))
        #expect(edited.edits?.target == "/a?b=1" && edited.policy?.requestTimeout == 1_000_000_000)
        #expect(edited.ruleName == "svc#1" && edited.subset == nil)
        let normalized = routes.decide(try Self.get("/x/../v2/a"), service: "svc", policy: TrafficPolicy(), now: 0)
        #expect(normalized?.edits?.target == "/a", "what goes upstream is what was matched")
        let rewritten = routes.decide(try Self.get("/v2/a;p=1/b"), service: "svc", policy: TrafficPolicy(), now: 0)
        #expect(rewritten?.edits?.target == "/a/b", "a rewrite builds on the matched path")
    }

    @Test func pathParametersDoNotSlipPastRules() throws {
        var deny = RouteRule()
        deny.match.path = .prefix("/admin")
        deny.action = .directResponse(status: 403, body: "no")
        var limited = RouteRule()
        limited.match.path = .exact("/limited")
        limited.rateLimit = RateLimit(requestsPerSecond: 1, burst: 1)
        var api = RouteRule()
        api.match.path = .prefix("/api")
        api.requestHeaders.replace = [("x-api", "1")]
        let routes = Self.routes([deny, limited, api])
        func decide(_ target: String, now: Int64 = 0) throws -> RouteDecision? {
            routes.decide(try Self.get(target), service: "svc", policy: TrafficPolicy(), now: now)
        }
        for target in ["/admin;x", "/;/admin", "/admin;jsessionid=1/users", "/x/..;/admin", "http://svc/;/admin"] {
            #expect(try decide(target)?.answer == .direct(status: 403, body: "no"), "\(target)")
        }
        #expect(try decide("/limited;a")?.answer == nil)
        #expect(try decide("/limited;b", now: 1)?.answer != nil, "one bucket, whatever the parameters")
        let kept = try #require(try decide("/api;v=1/x;y?q=1"))
        #expect(kept.ruleName == "svc#2" && kept.edits?.target == nil, "parameters go upstream as they came")
        #expect(try decide("/api;v=1//x")?.edits?.target == "/api;v=1/x")
        #expect(try decide("/admin/..;/api")?.edits?.target == "/api", "the segments the rule matched")
    }

    @Test func rateLimiterHoldsItsRateAcrossCallers() {
        let limiter = RequestRateLimiter(requestsPerSecond: 100, burst: 10)
        var allowed = 0
        var lastWait: Int64 = 0
        // 1,000 requests a second for 5 seconds.
        for request in 0..<5_000 {
            if let wait = limiter.acquire(now: Int64(request) * 1_000_000) { lastWait = wait } else { allowed += 1 }
        }
        #expect(allowed == 10 + 500 - 1 || allowed == 10 + 500, "the burst, then 100 a second: \(allowed)")
        #expect(lastWait > 0 && lastWait <= 10_000_000)
        #expect(limiter.acquire(now: 20_000_000_000) == nil, "full again after a quiet time")
    }

    @Test func rateLimitedAnswerSaysWhenToComeBack() throws {
        var rule = RouteRule()
        rule.rateLimit = RateLimit(requestsPerSecond: 0.5, burst: 1)
        let routes = Self.routes([rule], inbound: RateLimit(requestsPerSecond: 1, burst: 1))
        let head = try Self.get("/")
        #expect(routes.decide(head, service: "svc", policy: TrafficPolicy(), now: 0)?.answer == nil)
        let refused = routes.decide(head, service: "svc", policy: TrafficPolicy(), now: 1)?.answer
        #expect(refused == .rateLimited(retryAfterNanoseconds: 1_999_999_999))
        let response = String(buffer: try #require(refused).response(service: "svc", keepAlive: true, version: .http11))
        #expect(response.hasPrefix("HTTP/1.1 429 Too Many Requests\r\n"))
        #expect(
            response.contains("\r\nretry-after: 2\r\n") && response.contains("\r\nx-mesher-error: rate-limited\r\n"))
        #expect(routes.admitInbound(now: 0) == nil && routes.admitInbound(now: 1) != nil)
    }

    @Test func upstreamHeadCarriesTheEdits() throws {
        var edits = RequestEdits(target: "/a?b=1")
        edits.headers.replace = [("x-route", "v2")]
        edits.headers.add = [("x-extra", "1")]
        edits.headers.remove = ["x-debug"]
        edits.droppedFields = [Array("x-debug".utf8), Array("x-route".utf8)]
        let head = try Self.get("/v2/a?b=1", "X-Route: old\r\nX-Debug: 1\r\nX-Keep: 1\r\n")
        let out = String(
            buffer: HTTPMessages.upstreamRequest(
                head, authority: "svc", hops: 1, forwardedFor: nil, upgrade: false, edits: edits))
        #expect(out.hasPrefix("GET /a?b=1 HTTP/1.1\r\nhost: svc\r\n"))
        #expect(out.contains("X-Keep: 1\r\n") && out.contains("x-route: v2\r\n") && out.contains("x-extra: 1\r\n"))
        #expect(!out.contains("X-Debug") && !out.contains("X-Route: old"))
    }

    @Test func directAnswerToHEADHasNoBody() {
        let answer = MesherAnswer.direct(status: 403, body: "forbidden")
        let full = String(buffer: answer.response(service: nil, keepAlive: true, version: .http11))
        let head = String(buffer: answer.response(service: nil, keepAlive: true, version: .http11, headOnly: true))
        #expect(full.hasSuffix("\r\n\r\nforbidden") && !full.contains("x-mesher-error"))
        #expect(head.hasSuffix("content-length: 9\r\n\r\n"))
        let empty = String(
            buffer: MesherAnswer.direct(status: 204, body: "").response(service: nil, keepAlive: true, version: .http11)
        )
        #expect(empty == "HTTP/1.1 204 No Content\r\n\r\n")
    }

    @Test func aReloadKeepsTheBucketsOfUnchangedLimits() {
        var limited = RouteRule()
        limited.rateLimit = RateLimit(requestsPerSecond: 1, burst: 1)
        let old = RoutingRules(rules: ["svc": [limited]], inbound: RateLimit(requestsPerSecond: 1, burst: 1))
        #expect(old.services["svc"]?[0].limiter?.acquire(now: 0) == nil)
        let same = RoutingRules(rules: ["svc": [limited]], inbound: RateLimit(requestsPerSecond: 1, burst: 1))
            .keepingLimiters(of: old)
        #expect(same.services["svc"]?[0].limiter?.acquire(now: 1) != nil, "the spent token stays spent")
        #expect(same.inboundLimiter === old.inboundLimiter)
        var faster = limited
        faster.rateLimit = RateLimit(requestsPerSecond: 2, burst: 1)
        let changed = RoutingRules(rules: ["svc": [faster]]).keepingLimiters(of: old)
        #expect(changed.services["svc"]?[0].limiter?.acquire(now: 1) == nil, "a new limit starts full")
        #expect(changed.inboundLimiter == nil)
    }
}
