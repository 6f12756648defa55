import NIOHTTP1
import Testing

@testable import Admin

@Suite struct AdminRoutesTests {
    @Test func healthAndReadiness() {
        #expect(AdminRoutes.answer(method: .GET, uri: "/healthz", fromLoopback: false) { false }.status == .ok)
        #expect(AdminRoutes.answer(method: .GET, uri: "/ready?verbose", fromLoopback: false) { true }.status == .ok)
        let notReady = AdminRoutes.answer(method: .GET, uri: "/ready", fromLoopback: true) { false }
        #expect(notReady.status == .serviceUnavailable)
        #expect(notReady.proxyReady, "Mesher serves, only the app is not healthy")
        #expect(!notReady.quits)
    }

    @Test func quitOnlyByPostFromThisHost() {
        let quit = AdminRoutes.answer(method: .POST, uri: "/quitquitquit", fromLoopback: true) { true }
        #expect(quit == AdminRoutes.Answer(status: .ok, body: "shutting down\n", quits: true))
        let remote = AdminRoutes.answer(method: .POST, uri: "/quitquitquit", fromLoopback: false) { true }
        #expect(remote.status == .forbidden && !remote.quits)
        let get = AdminRoutes.answer(method: .GET, uri: "/quitquitquit", fromLoopback: true) { true }
        #expect(get.status == .methodNotAllowed && !get.quits)
    }

    @Test func metricsAreServedInThePrometheusFormatWhenOn() {
        let on = AdminRoutes.answer(
            method: .GET, uri: "/metrics", fromLoopback: false, metrics: { Array("up 1\n".utf8) }, isReady: { true })
        #expect(on.status == .ok && on.body == "up 1\n" && on.contentType.hasPrefix("text/plain; version=0.0.4"))
        let off = AdminRoutes.answer(method: .GET, uri: "/metrics", fromLoopback: false) { true }
        #expect(off.status == .notFound && off.body.contains("telemetry.metrics"))
    }

    @Test func unknownPathsListTheEndpoints() {
        let answer = AdminRoutes.answer(method: .GET, uri: "/", fromLoopback: true) { true }
        #expect(answer.status == .notFound && answer.body == AdminRoutes.index)
    }
}
