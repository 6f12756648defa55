import NIOCore
import Routing

extension ProxyServer {
    /// Every loop's view of every service's instances (`/clusters`), merged: counts added up, latency averaged
    /// over the loops that measured it, an instance ejected when any loop ejected it.
    public func endpointReports() async -> [EndpointReport] {
        var merged: [String: EndpointReport] = [:]
        for box in stack.loops.values {
            let reports = try? await box.eventLoop.submit {
                box.value.endpoints.report(now: NIODeadline.now().uptimeNanoseconds)
            }.get()
            for report in reports ?? [] {
                merged[report.service] = merged[report.service].map { $0.merged(with: report) } ?? report
            }
        }
        return merged.values.sorted { $0.service < $1.service }
    }
}

extension EndpointReport {
    func merged(with other: EndpointReport) -> EndpointReport {
        var result = self
        result.outstanding += other.outstanding
        result.connections += other.connections
        result.pendingRequests += other.pendingRequests
        // Each instance with how many loops measured its latency.
        var byKey = Dictionary(
            instances.map { ($0.key, ($0, $0.ewmaNanoseconds == nil ? 0 : 1)) }, uniquingKeysWith: { first, _ in first }
        )
        for instance in other.instances {
            guard let (mine, measured) = byKey[instance.key] else {
                byKey[instance.key] = (instance, instance.ewmaNanoseconds == nil ? 0 : 1)
                continue
            }
            var sum = mine
            sum.active += instance.active
            sum.consecutiveFailures = max(sum.consecutiveFailures, instance.consecutiveFailures)
            sum.ejections += instance.ejections
            sum.ejectedFor = [mine.ejectedFor, instance.ejectedFor].compactMap { $0 }.max()
            var count = measured
            if let theirs = instance.ewmaNanoseconds {
                sum.ewmaNanoseconds = ((mine.ewmaNanoseconds ?? 0) * Double(measured) + theirs) / Double(measured + 1)
                count += 1
            }
            byKey[instance.key] = (sum, count)
        }
        result.instances = byKey.values.map(\.0).sorted {
            ($0.key.address, $0.key.port) < ($1.key.address, $1.key.port)
        }
        return result
    }
}
