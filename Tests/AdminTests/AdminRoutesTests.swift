import NIOHTTP1
import Testing

@testable import Admin

extension AdminRoutes.Reply {
    /// The answer given at once (a failed test for one that gathers first).
    var answer: AdminRoutes.Answer {
        if case .now(let answer) = self { return answer }
        Issue.record("answered later")
        return AdminRoutes.Answer(status: .internalServerError, body: "")
    }
}

@Suite struct AdminRoutesTests {
    func get(_ uri: String, loopback: Bool = true, _ endpoints: AdminEndpoints = AdminEndpoints()) -> AdminRoutes.Answer
    {
        AdminRoutes.answer(method: .GET, uri: uri, fromLoopback: loopback, endpoints: endpoints) { nil }.answer
    }

    @Test func healthAndReadiness() {
        #expect(
            AdminRoutes.answer(method: .GET, uri: "/healthz", fromLoopback: false) { "no registry view yet" }.answer
                .status == .ok)
        #expect(
            AdminRoutes.answer(method: .GET, uri: "/ready?verbose", fromLoopback: false) { nil }.answer.status == .ok)
        let notReady = AdminRoutes.answer(method: .GET, uri: "/ready", fromLoopback: true) {
            "the app's health check fails: status 500"
        }.answer
        #expect(notReady.status == .serviceUnavailable)
        #expect(notReady.body == "not ready: the app's health check fails: status 500\n", "says why")
        #expect(notReady.proxyReady, "Mesher serves, only the app is not healthy")
        #expect(!notReady.quits)
    }

    @Test func quitOnlyByPostFromThisHost() {
        let quit = AdminRoutes.answer(method: .POST, uri: "/quitquitquit", fromLoopback: true) { nil }.answer
        #expect(quit == AdminRoutes.Answer(status: .ok, body: "shutting down\n", quits: true))
        let remote = AdminRoutes.answer(method: .POST, uri: "/quitquitquit", fromLoopback: false) { nil }.answer
        #expect(remote.status == .forbidden && !remote.quits)
        let get = AdminRoutes.answer(method: .GET, uri: "/quitquitquit", fromLoopback: true) { nil }.answer
        #expect(get.status == .methodNotAllowed && !get.quits)
    }

    @Test func metricsAreServedInThePrometheusFormatWhenOn() {
        let on = get("/metrics", AdminEndpoints(metrics: { Array("up 1\n".utf8) }))
        #expect(on.status == .ok && on.body == "up 1\n" && on.contentType.hasPrefix("text/plain; version=0.0.4"))
        let off = get("/metrics")
        #expect(off.status == .notFound && off.body.contains("telemetry.metrics"))
    }

    @Test func jsonEndpointsAndThePage() {
        let endpoints = AdminEndpoints(configDump: { "{\"a\":1}" }, listeners: "[]", page: "<html>")
        #expect(
            get("/config_dump", endpoints).body == "{\"a\":1}"
                && get("/config_dump", endpoints).contentType == "application/json")
        #expect(get("/listeners", endpoints).body == "[]")
        #expect(get("/", endpoints).contentType.hasPrefix("text/html"))
        let clusters = AdminRoutes.answer(
            method: .GET, uri: "/clusters", fromLoopback: false, endpoints: AdminEndpoints(clusters: { "{}" }),
            notReady: { nil })
        guard case .later = clusters else {
            Issue.record("/clusters gathers from the event loops first")
            return
        }
    }

    /// Reading the level is for anyone; changing it only from this host, and only to a level.
    @Test func loggingLevel() {
        let answer = { @Sendable (level: String?) -> String? in
            level == "loud" ? nil : "{\"level\":\"\(level ?? "info")\"}"
        }
        let endpoints = AdminEndpoints(logging: answer)
        #expect(get("/logging", endpoints).body == "{\"level\":\"info\"}")
        let set = AdminRoutes.answer(
            method: .POST, uri: "/logging?level=debug", fromLoopback: true, endpoints: endpoints, notReady: { nil }
        ).answer
        #expect(set.status == .ok && set.body == "{\"level\":\"debug\"}")
        let remote = AdminRoutes.answer(
            method: .POST, uri: "/logging?level=debug", fromLoopback: false, endpoints: endpoints, notReady: { nil }
        ).answer
        #expect(remote.status == .forbidden)
        let bad = AdminRoutes.answer(
            method: .POST, uri: "/logging?level=loud", fromLoopback: true, endpoints: endpoints, notReady: { nil }
        ).answer
        #expect(bad.status == .badRequest)
    }

    @Test func unknownPathsListTheEndpoints() {
        let answer = AdminRoutes.answer(method: .GET, uri: "/nothing", fromLoopback: true) { nil }.answer
        #expect(answer.status == .notFound && answer.body == AdminRoutes.index)
    }
}
