import NIOHTTP1

/// What the admin port answers, decided apart from the channel so that it is tested without one.
enum AdminRoutes {
    struct Answer: Equatable, Sendable {
        var status: HTTPResponseStatus
        var body: String
        var contentType = "text/plain"
        /// `/quitquitquit`: shut Mesher down once the answer is written.
        var quits = false
        /// On `/ready`: Mesher itself serves (the admin port opens after every listener), whatever the app's
        /// health. `mesher await` starts the app on it: waiting for the app's own health would never end.
        var proxyReady = false
    }

    /// An answer now, or one that gathers state from elsewhere first (the event loops).
    enum Reply {
        case now(Answer)
        case later(@Sendable () async -> Answer)
    }

    static let index = """
        not found: GET /healthz, GET /ready, GET /metrics, GET /clusters, GET /config_dump, GET /listeners, \
        GET /logging, POST /logging?level=LEVEL, POST /quitquitquit

        """
    /// The Prometheus text format.
    static let metricsType = "text/plain; version=0.0.4; charset=utf-8"
    static let json = "application/json"

    /// `fromLoopback`: `/quitquitquit` and setting the log level are for the app and the people beside Mesher
    /// (a Job whose work is done, a debugging session), never for a caller from the network: the admin port may
    /// listen on every address for the kubelet's probes.
    static func answer(
        method: HTTPMethod, uri: String, fromLoopback: Bool, endpoints: AdminEndpoints = AdminEndpoints(),
        notReady: () -> String?
    ) -> Reply {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts.first ?? ""
        let query = parts.count > 1 ? parts[1] : ""
        switch (method, path) {
        case (.GET, "/healthz"), (.HEAD, "/healthz"):
            return .now(Answer(status: .ok, body: "ok\n"))
        case (.GET, "/ready"), (.HEAD, "/ready"):
            return .now(
                notReady().map { Answer(status: .serviceUnavailable, body: "not ready: \($0)\n", proxyReady: true) }
                    ?? Answer(status: .ok, body: "ready\n", proxyReady: true))
        case (.GET, "/metrics"):
            guard let metrics = endpoints.metrics else {
                return .now(Answer(status: .notFound, body: "metrics are off (telemetry.metrics)\n"))
            }
            return .now(Answer(status: .ok, body: String(decoding: metrics(), as: UTF8.self), contentType: metricsType))
        case (.GET, "/clusters"):
            guard let clusters = endpoints.clusters else { return .now(notFound) }
            return .later { Answer(status: .ok, body: await clusters(), contentType: json) }
        case (.GET, "/config_dump"):
            return .now(endpoints.configDump.map { Answer(status: .ok, body: $0(), contentType: json) } ?? notFound)
        case (.GET, "/listeners"):
            return .now(endpoints.listeners.map { Answer(status: .ok, body: $0, contentType: json) } ?? notFound)
        case (.GET, "/logging"), (.POST, "/logging"):
            guard let logging = endpoints.logging else { return .now(notFound) }
            let level = query.split(separator: "&").first { $0.hasPrefix("level=") }.map { String($0.dropFirst(6)) }
            if method == .POST {
                guard fromLoopback else { return .now(Answer(status: .forbidden, body: "only from this host\n")) }
                guard level != nil else {
                    return .now(Answer(status: .badRequest, body: "POST /logging?level=LEVEL\n"))
                }
            }
            guard let body = logging(method == .POST ? level : nil) else {
                return .now(Answer(status: .badRequest, body: "'\(level ?? "")' is not a log level\n"))
            }
            return .now(Answer(status: .ok, body: body, contentType: json))
        case (.GET, "/"):
            return .now(
                endpoints.page.map { Answer(status: .ok, body: $0, contentType: "text/html; charset=utf-8") }
                    ?? notFound)
        case (.POST, "/quitquitquit"):
            guard fromLoopback else { return .now(Answer(status: .forbidden, body: "only from this host\n")) }
            return .now(Answer(status: .ok, body: "shutting down\n", quits: true))
        case (_, "/quitquitquit"):
            return .now(Answer(status: .methodNotAllowed, body: "POST /quitquitquit\n"))
        default:
            return .now(notFound)
        }
    }

    static let notFound = Answer(status: .notFound, body: index)
}
