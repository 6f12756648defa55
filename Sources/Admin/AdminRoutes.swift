import NIOHTTP1

/// What the admin port answers, decided apart from the channel so that it is tested without one.
enum AdminRoutes {
    struct Answer: Equatable {
        var status: HTTPResponseStatus
        var body: String
        var contentType = "text/plain"
        /// `/quitquitquit`: shut Mesher down once the answer is written.
        var quits = false
        /// On `/ready`: Mesher itself serves (the admin port opens after every listener), whatever the app's
        /// health. `mesher await` starts the app on it: waiting for the app's own health would never end.
        var proxyReady = false
    }

    static let index = "not found: GET /healthz, GET /ready, GET /metrics, POST /quitquitquit\n"
    /// The Prometheus text format.
    static let metricsType = "text/plain; version=0.0.4; charset=utf-8"

    /// `fromLoopback`: `/quitquitquit` is for the app beside Mesher (a Job whose work is done), never for
    /// a caller from the network: the admin port may listen on every address for the kubelet's probes.
    static func answer(
        method: HTTPMethod, uri: String, fromLoopback: Bool, metrics: (() -> [UInt8])? = nil, isReady: () -> Bool
    ) -> Answer {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        switch (method, path) {
        case (.GET, "/healthz"), (.HEAD, "/healthz"):
            return Answer(status: .ok, body: "ok\n")
        case (.GET, "/ready"), (.HEAD, "/ready"):
            return isReady()
                ? Answer(status: .ok, body: "ready\n", proxyReady: true)
                : Answer(status: .serviceUnavailable, body: "app not healthy\n", proxyReady: true)
        case (.GET, "/metrics"):
            guard let metrics else { return Answer(status: .notFound, body: "metrics are off (telemetry.metrics)\n") }
            return Answer(status: .ok, body: String(decoding: metrics(), as: UTF8.self), contentType: metricsType)
        case (.POST, "/quitquitquit"):
            guard fromLoopback else { return Answer(status: .forbidden, body: "only from this host\n") }
            return Answer(status: .ok, body: "shutting down\n", quits: true)
        case (_, "/quitquitquit"):
            return Answer(status: .methodNotAllowed, body: "POST /quitquitquit\n")
        default:
            return Answer(status: .notFound, body: index)
        }
    }
}
