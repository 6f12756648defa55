/// What the admin port serves besides health and readiness, each given by `mesher run` (absent: 404). JSON
/// bodies are made by the caller, which knows the parts; the admin server only routes and writes them.
public struct AdminEndpoints: Sendable {
    /// `/metrics`, in the Prometheus text format.
    public var metrics: (@Sendable () -> [UInt8])?
    /// `/clusters`: services, instances, health, ejection, active requests, latency (gathered from the loops).
    public var clusters: (@Sendable () async -> String)?
    /// `/config_dump`: the effective configuration (the last reload's), secrets redacted.
    public var configDump: (@Sendable () -> String)?
    /// `/listeners`.
    public var listeners: String?
    /// `/logging`: the log level as JSON; with a level (`POST /logging?level=debug`), it is set first. `nil`
    /// for a level that is not one.
    public var logging: (@Sendable (String?) -> String?)?
    /// `/`: the live page.
    public var page: String?

    public init(
        metrics: (@Sendable () -> [UInt8])? = nil, clusters: (@Sendable () async -> String)? = nil,
        configDump: (@Sendable () -> String)? = nil, listeners: String? = nil,
        logging: (@Sendable (String?) -> String?)? = nil,
        page: String? = nil
    ) {
        self.metrics = metrics
        self.clusters = clusters
        self.configDump = configDump
        self.listeners = listeners
        self.logging = logging
        self.page = page
    }
}
