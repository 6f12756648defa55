extension Lab {
    /// The client-side Mesher's `/metrics`, as Prometheus would scrape it.
    func metrics() throws -> String {
        try inClient(["curl", "-sS", "-m", "10", "http://127.0.0.1:15000/metrics"]).stdout
    }

    /// The value of the one sample of `series` (its name and labels as written) in `text`.
    static func sample(_ text: String, _ series: String) -> Double? {
        let line = text.split(separator: "\n").first { $0.hasPrefix(series + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }
    }
}
