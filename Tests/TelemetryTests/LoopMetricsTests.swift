import Prometheus
import Testing

@testable import Telemetry

/// What the event loops record, as Prometheus reads it: exact counts, bounded labels, one histogram per loop.
struct LoopMetricsTests {
    func exposition(_ registry: PrometheusCollectorRegistry) -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test func requestsAreCountedExactlyByServiceAndCode() throws {
        let registry = PrometheusCollectorRegistry()
        let loops = try [0, 1].map { try #require(LoopMetrics(registry: registry, loop: $0)) }
        for index in 0..<7 {
            loops[index % 2].request(
                direction: "outbound", service: "accountservice", status: 200, nanoseconds: 2_000_000)
        }
        loops[0].request(direction: "outbound", service: "accountservice", status: 503, nanoseconds: 1_000)
        loops[1].request(direction: "inbound", service: nil, status: 0, nanoseconds: 1_000)
        let text = exposition(registry)
        #expect(
            text.contains(
                #"mesher_requests_total{direction="outbound",service="accountservice",code="200",class="2xx"} 7"#))
        #expect(text.contains(#"code="503",class="5xx"} 1"#))
        #expect(text.contains(#"{direction="inbound",service="passthrough",code="0",class="0xx"} 1"#))
        // Each loop's histogram: 4 and 3 of the 2 ms requests, all within the 2.5 ms bucket.
        #expect(text.contains(#"service="accountservice",class="2xx",loop="0",le="0.0025"} 4"#))
        #expect(text.contains(#"service="accountservice",class="2xx",loop="1",le="0.0025"} 3"#))
        #expect(text.contains(#"service="accountservice",class="2xx",loop="1",le="0.001"} 0"#))
        #expect(text.contains("# HELP mesher_requests_total "))
    }

    @Test func connectionsAndPolicyEventsAreCounted() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = try #require(LoopMetrics(registry: registry, loop: 0))
        metrics.connectionOpened(direction: "outbound")
        metrics.connectionClosed(direction: "outbound", protocolName: "tls", result: "ok", bytesUp: 10, bytesDown: 20)
        metrics.connectionClosed(direction: "outbound", protocolName: "tls", result: "ok", bytesUp: 5, bytesDown: 0)
        metrics.retried(service: "svc", condition: "connect-failure")
        metrics.ejected(service: "svc")
        metrics.overflowed(service: "svc")
        metrics.connectFailed(service: nil, reason: "connect-refused")
        metrics.answered(reason: "no-healthy-instance")
        metrics.grpcCall(direction: "outbound", service: "svc", status: 14)
        metrics.grpcCall(direction: "outbound", service: "svc", status: 99)
        metrics.detected("http1", nanoseconds: 50_000)
        let text = exposition(registry)
        #expect(text.contains(#"mesher_tcp_connections_opened_total{direction="outbound"} 1"#))
        #expect(
            text.contains(#"mesher_tcp_connections_closed_total{direction="outbound",protocol="tls",result="ok"} 2"#))
        #expect(text.contains(#"mesher_tcp_sent_bytes_total{direction="outbound",protocol="tls"} 15"#))
        #expect(text.contains(#"mesher_tcp_received_bytes_total{direction="outbound",protocol="tls"} 20"#))
        #expect(text.contains(#"mesher_retries_total{service="svc",condition="connect-failure"} 1"#))
        #expect(text.contains(#"mesher_ejections_total{service="svc"} 1"#))
        #expect(text.contains(#"mesher_overflows_total{service="svc"} 1"#))
        #expect(
            text.contains(#"mesher_upstream_connect_failures_total{service="passthrough",reason="connect-refused"} 1"#))
        #expect(text.contains(#"mesher_answers_total{reason="no-healthy-instance"} 1"#))
        #expect(text.contains(#"mesher_grpc_calls_total{direction="outbound",service="svc",grpc_status="14"} 1"#))
        #expect(text.contains(#"mesher_grpc_calls_total{direction="outbound",service="svc",grpc_status="2"} 1"#))
        #expect(text.contains(#"mesher_protocol_detections_total{protocol="http1"} 1"#))
        #expect(
            text.contains(
                #"mesher_protocol_detection_duration_seconds_bucket{protocol="http1",loop="0",le="0.0001"} 1"#))
    }

    @Test func noRegistryRecordsNothing() {
        #expect(LoopMetrics(registry: nil, loop: 0) == nil)
    }

    @Test func everyMetricHasHelp() {
        let names = [
            MetricNames.requests, MetricNames.requestDuration, MetricNames.connectionsOpened,
            MetricNames.connectionsClosed, MetricNames.sentBytes, MetricNames.receivedBytes,
            MetricNames.connectFailures, MetricNames.retries, MetricNames.ejections, MetricNames.overflows,
            MetricNames.answers, MetricNames.grpcCalls, MetricNames.detections, MetricNames.detectionDuration,
            MetricNames.dnsAnswers,
            MetricNames.configReloads,
            MetricNames.registryServices, MetricNames.registryInstances, MetricNames.registrySynced,
            MetricNames.registryLastSync, MetricNames.registrySyncs, MetricNames.residentMemory, MetricNames.openFDs,
            MetricNames.maxFDs,
            MetricNames.cpuSeconds, MetricNames.startTime,
        ]
        #expect(names.allSatisfy { MetricNames.help[$0]?.isEmpty == false })
        #expect(Set(names).count == MetricNames.help.count)
    }

    @Test func processStatsAreRead() throws {
        let stats = try #require(ProcessStats.current())
        #expect(stats.residentBytes > 1 << 20 && stats.openFDs > 2 && stats.maxFDs >= stats.openFDs)
        #expect(stats.cpuSeconds > 0 && stats.startTime > 1_600_000_000)
    }
}
