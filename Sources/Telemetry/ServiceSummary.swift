/// Golden signals per service from two readings of `/metrics` some seconds apart, as Prometheus's `rate` and
/// `histogram_quantile` would give them (for `mesher status`; the admin page does the same in the browser).
public struct ServiceSummary: Equatable, Sendable {
    public var direction: String
    public var service: String
    public var requestsPerSecond: Double
    /// Share of requests not answered 5xx (nor left without an answer); `nil` without requests.
    public var success: Double?
    public var p50: Double?
    public var p99: Double?

    /// One sample of the Prometheus text format.
    public struct Sample: Equatable, Sendable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    /// The samples of a Prometheus text exposition (comments and malformed lines skipped).
    public static func parse(_ text: String) -> [Sample] {
        text.split(separator: "\n").compactMap { line -> Sample? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
                let value = Double(line[line.index(after: space)...])
            else { return nil }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else {
                return Sample(name: String(series), labels: [:], value: value)
            }
            var labels: [String: String] = [:]
            for pair in series[series.index(after: brace)...].dropLast().split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
            return Sample(name: String(series[..<brace]), labels: labels, value: value)
        }
    }

    /// Per direction and service, what happened between `then` and `now`, `seconds` apart.
    public static func between(_ then: [Sample], _ now: [Sample], seconds: Double) -> [ServiceSummary] {
        let (countsNow, countsThen) = (requestCounts(now), requestCounts(then))
        let (bucketsNow, bucketsThen) = (buckets(now), buckets(then))
        return countsNow.keys.sorted { ($0.service, $0.direction) < ($1.service, $1.direction) }.map { key in
            let all = countsNow[key]!.all - (countsThen[key]?.all ?? 0)
            let ok = countsNow[key]!.ok - (countsThen[key]?.ok ?? 0)
            var delta: [Double: Double] = [:]
            for (le, count) in bucketsNow[key] ?? [:] { delta[le] = count - (bucketsThen[key]?[le] ?? 0) }
            return ServiceSummary(
                direction: key.direction, service: key.service,
                requestsPerSecond: seconds > 0 ? all / seconds : 0, success: all > 0 ? ok / all : nil,
                p50: quantile(0.5, delta), p99: quantile(0.99, delta))
        }
    }

    struct Key: Hashable {
        var direction: String
        var service: String
    }

    private static func requestCounts(_ samples: [Sample]) -> [Key: (all: Double, ok: Double)] {
        var counts: [Key: (all: Double, ok: Double)] = [:]
        for sample in samples where sample.name == MetricNames.requests {
            let key = Key(direction: sample.labels["direction"] ?? "", service: sample.labels["service"] ?? "")
            let good = sample.labels["class"] != "5xx" && sample.labels["code"] != "0"
            counts[key, default: (0, 0)].all += sample.value
            if good { counts[key, default: (0, 0)].ok += sample.value }
        }
        return counts
    }

    /// Cumulative bucket counts by upper bound (+Inf as infinity), the event loops added together.
    private static func buckets(_ samples: [Sample]) -> [Key: [Double: Double]] {
        var buckets: [Key: [Double: Double]] = [:]
        for sample in samples where sample.name == MetricNames.requestDuration + "_bucket" {
            let key = Key(direction: sample.labels["direction"] ?? "", service: sample.labels["service"] ?? "")
            guard let text = sample.labels["le"], let le = text == "+Inf" ? .infinity : Double(text) else { continue }
            buckets[key, default: [:]][le, default: 0] += sample.value
        }
        return buckets
    }

    /// Linear interpolation within the bucket holding the quantile, as `histogram_quantile` does.
    static func quantile(_ q: Double, _ cumulative: [Double: Double]) -> Double? {
        guard let total = cumulative[.infinity], total > 0 else { return nil }
        var (lower, below) = (0.0, 0.0)
        for le in cumulative.keys.sorted() where le.isFinite {
            let count = cumulative[le] ?? 0
            if count >= q * total {
                return lower + (le - lower) * (q * total - below) / max(count - below, 1e-9)
            }
            (lower, below) = (le, count)
        }
        return lower
    }
}
