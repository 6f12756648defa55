import Testing

@testable import Telemetry

struct ServiceSummaryTests {
    static let then = """
        # HELP mesher_requests_total x
        mesher_requests_total{direction="outbound",service="accountservice",code="200",class="2xx"} 100
        mesher_request_duration_seconds_bucket{direction="outbound",service="accountservice",class="2xx",loop="0",le="0.001"} 50
        mesher_request_duration_seconds_bucket{direction="outbound",service="accountservice",class="2xx",loop="0",le="0.01"} 100
        mesher_request_duration_seconds_bucket{direction="outbound",service="accountservice",class="2xx",loop="0",le="+Inf"} 100
        """
    static let now = """
        mesher_requests_total{direction="outbound",service="accountservice",code="200",class="2xx"} 280
        mesher_requests_total{direction="outbound",service="accountservice",code="503",class="5xx"} 20
        mesher_request_duration_seconds_bucket{direction="outbound",service="accountservice",class="2xx",loop="0",le="0.001"} 50
        mesher_request_duration_seconds_bucket{direction="outbound",service="accountservice",class="2xx",loop="0",le="0.01"} 200
        mesher_request_duration_seconds_bucket{direction="outbound",service="accountservice",class="2xx",loop="0",le="+Inf"} 200
        mesher_request_duration_seconds_bucket{direction="outbound",service="accountservice",class="2xx",loop="1",le="0.001"} 0
        mesher_request_duration_seconds_bucket{direction="outbound",service="accountservice",class="2xx",loop="1",le="0.01"} 0
        mesher_request_duration_seconds_bucket{direction="outbound",service="accountservice",class="2xx",loop="1",le="+Inf"} 100
        """

    @Test func ratesSuccessAndQuantilesFromTwoReadings() throws {
        let summaries = ServiceSummary.between(
            ServiceSummary.parse(Self.then), ServiceSummary.parse(Self.now), seconds: 10)
        let account = try #require(summaries.first)
        #expect(summaries.count == 1 && account.service == "accountservice" && account.direction == "outbound")
        #expect(account.requestsPerSecond == 20, "200 requests in 10 s")
        #expect(account.success == 0.9)
        // 200 new observations: 100 between 1 and 10 ms, 100 above 10 ms (the other loop).
        #expect(account.p50.map { abs($0 - 0.01) < 1e-9 } == true, "\(String(describing: account.p50))")
        #expect(account.p99 == 0.01, "above the last finite bucket: its bound, as Prometheus says")
    }

    @Test func noRequestsMeansNoRatio() {
        let samples = ServiceSummary.parse(Self.then)
        let summary = ServiceSummary.between(samples, samples, seconds: 1).first
        #expect(summary?.requestsPerSecond == 0 && summary?.success == nil && summary?.p99 == nil)
    }
}
