import Prometheus

/// Every metric Mesher exports: Prometheus base units, the `mesher_` prefix (the process's own are named as
/// every Prometheus client names them), and labels from bounded sets only: a service is a registry name,
/// anything else is `passthrough`; codes, reasons and protocols are Mesher's own short lists.
public enum MetricNames {
    public static let requests = "mesher_requests_total"
    public static let requestDuration = "mesher_request_duration_seconds"
    public static let connectionsOpened = "mesher_tcp_connections_opened_total"
    public static let connectionsClosed = "mesher_tcp_connections_closed_total"
    /// Client to upstream.
    public static let sentBytes = "mesher_tcp_sent_bytes_total"
    /// Upstream to client.
    public static let receivedBytes = "mesher_tcp_received_bytes_total"
    public static let connectFailures = "mesher_upstream_connect_failures_total"
    public static let retries = "mesher_retries_total"
    public static let ejections = "mesher_ejections_total"
    public static let overflows = "mesher_overflows_total"
    /// Mesher's own answers, by `x-mesher-error`.
    public static let answers = "mesher_answers_total"
    /// gRPC calls by their status (`grpc-status`, 0-16).
    public static let grpcCalls = "mesher_grpc_calls_total"
    public static let detections = "mesher_protocol_detections_total"
    public static let detectionDuration = "mesher_protocol_detection_duration_seconds"
    public static let dnsAnswers = "mesher_dns_answers_total"
    public static let configReloads = "mesher_config_reloads_total"
    public static let registryServices = "mesher_registry_services"
    public static let registryInstances = "mesher_registry_instances"
    public static let registrySynced = "mesher_registry_synced"
    public static let registryLastSync = "mesher_registry_last_sync_timestamp_seconds"
    public static let registrySyncs = "mesher_registry_syncs_total"
    public static let residentMemory = "process_resident_memory_bytes"
    public static let openFDs = "process_open_fds"
    public static let maxFDs = "process_max_fds"
    public static let cpuSeconds = "process_cpu_seconds_total"
    public static let startTime = "process_start_time_seconds"

    /// `name` with its help text, as the registry takes it.
    public static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help[name] ?? "")
    }

    /// The label value of every destination that is no registry service.
    public static let passthrough = "passthrough"

    /// Request latency: 0.5 ms to 10 s.
    public static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]
    /// Protocol detection: from the first bytes (well under a millisecond) to the sniff window's end.
    public static let detectionBuckets: [Duration] = [
        .microseconds(100), .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
    ]

    /// The `# HELP` line of each metric (promtool wants one), also the README's table.
    public static let help: [String: String] = [
        requests: "HTTP requests by direction, service, response code and its class (0 when none came)",
        grpcCalls: "gRPC calls over HTTP/2, by direction, service and grpc-status (from the trailers, or Mesher's own)",
        requestDuration: "HTTP request head to end of response, by direction, service, code class and event loop",
        connectionsOpened: "Downstream TCP connections accepted, by direction",
        connectionsClosed: "Downstream TCP connections ended, by direction, detected protocol and result",
        sentBytes: "Bytes from clients towards upstreams, counted when a connection ends",
        receivedBytes: "Bytes from upstreams towards clients, counted when a connection ends",
        connectFailures: "Failed upstream connects, by service and reason",
        retries: "Requests and connections sent to another instance, by service and condition",
        ejections: "Instances ejected after consecutive failures, by service",
        overflows: "Requests or connections refused by a service's circuit breaker",
        answers: "Responses Mesher made itself, by x-mesher-error reason",
        detections: "Protocol detection outcomes",
        detectionDuration: "Time from accept to a protocol decision, by protocol and event loop",
        dnsAnswers: "DNS queries answered, by kind (virtual-ip, forwarded, failed, refused)",
        configReloads: "Reloads of mesher.yaml, by result (applied, unchanged, invalid)",
        registryServices: "Services in the registry view",
        registryInstances: "Instances in the registry view, by state (up, down)",
        registrySynced: "1 once the registry gave a full view (and after each reconnect), else 0",
        registryLastSync: "When the registry view last changed",
        registrySyncs:
            "Full registry views read: the first, and one after each reconnect (etcd) or unreadable directory",
        residentMemory: "Resident memory size in bytes",
        openFDs: "Number of open file descriptors",
        maxFDs: "Maximum number of open file descriptors",
        cpuSeconds: "Total user and system CPU time spent in seconds",
        startTime: "Start time of the process since unix epoch in seconds",
    ]

    /// "2xx" for 204; "0xx" for none (the exchange broke before any status).
    public static func statusClass(_ status: Int) -> String {
        (100...599).contains(status) ? classes[status / 100] : classes[0]
    }

    private static let classes = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"]
}
