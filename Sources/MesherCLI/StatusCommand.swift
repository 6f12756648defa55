import ArgumentParser
import Foundation
import HTTPClients
import MesherBase
import NIOCore
import NIOPosix
import Telemetry

/// `mesher status`: what the admin page shows, in the terminal: each service with its instances, request
/// rate, success and p99 over an interval, read from the admin API (`/clusters`, `/metrics` twice).
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the services Mesher sees and their traffic: instances, rate, success, p99.")

    @Option(help: "Mesher's admin address.")
    var admin = "127.0.0.1:\(MesherDefaults.adminPort)"

    @Option(help: "Seconds between the two readings the rates come from.")
    var interval: Double = 2

    func validate() throws {
        guard (0.1...60).contains(interval) else { throw ValidationError("--interval: 0.1 to 60 seconds") }
        guard AdminAddress(admin) != nil else { throw ValidationError("--admin: expected HOST:PORT, got '\(admin)'") }
    }

    func run() async throws {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let client = MesherHTTPClient(group: eventLoop)
        let table: String
        do {
            table = try await report(client: client, on: eventLoop)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
        print(table, terminator: "")
    }

    /// Two readings of `/metrics`, `interval` apart, and `/clusters`: the table.
    private func report(client: MesherHTTPClient, on eventLoop: any EventLoop) async throws -> String {
        let base = AdminAddress(admin)!.url
        func fetch(_ path: String) async throws -> String {
            let reply = try await client.get(
                base + path, headers: [], deadline: .now() + .seconds(5), keepingAtMost: 16 << 20, on: eventLoop
            ).get()
            guard reply.status == 200 else { throw ValidationError("\(base)\(path): status \(reply.status)") }
            return String(buffer: reply.body)
        }
        let before: String
        do {
            before = try await fetch("/metrics")
        } catch {
            throw ValidationError("cannot read Mesher's admin API at \(admin): \(error)")
        }
        try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
        let after = try await fetch("/metrics")
        let clusters = try JSONDecoder().decode(Clusters.self, from: Data(try await fetch("/clusters").utf8))
        let summaries = ServiceSummary.between(
            ServiceSummary.parse(before), ServiceSummary.parse(after), seconds: interval)
        return Self.table(clusters: clusters, summaries: summaries, interval: interval)
    }

    struct Clusters: Decodable {
        struct Service: Decodable {
            struct Instance: Decodable {
                var address: String
                var port: Int
                var health: String
                var ejected: Bool
                /// This Mesher's own app: why its health check failed last.
                var healthCheckFailure: String?
            }
            var name: String
            var instances: [Instance]
        }
        var services: [Service]
    }

    /// One line per service and direction it was seen in (or one without traffic); then, for this Mesher's own
    /// app, why its health check fails.
    static func table(clusters: Clusters, summaries: [ServiceSummary], interval: Double) -> String {
        var rows = [["SERVICE", "DIRECTION", "INSTANCES", "RATE/S", "SUCCESS", "P99"]]
        let byService = Dictionary(grouping: summaries, by: \.service)
        var names = clusters.services.map(\.name)
        names += byService.keys.filter { !names.contains($0) }.sorted()
        for name in names {
            let instances = clusters.services.first { $0.name == name }?.instances
            let up = instances?.filter { $0.health == "up" && !$0.ejected }.count
            let ejected = instances?.filter(\.ejected).count ?? 0
            let instanceText =
                instances.map { "\(up ?? 0)/\($0.count) up" + (ejected > 0 ? ", \(ejected) ejected" : "") } ?? "-"
            for summary in byService[name] ?? [] {
                rows.append([
                    name, summary.direction, instanceText, String(format: "%.2f", summary.requestsPerSecond),
                    summary.success.map { String(format: "%.1f%%", $0 * 100) } ?? "-",
                    summary.p99.map { String(format: "%.1fms", $0 * 1000) } ?? "-",
                ])
            }
            if byService[name] == nil { rows.append([name, "-", instanceText, "0.00", "-", "-"]) }
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        let lines = rows.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        var failing: [String] = []
        for service in clusters.services {
            for instance in service.instances {
                guard let failure = instance.healthCheckFailure else { continue }
                let address = instance.address.contains(":") ? "[\(instance.address)]" : instance.address
                failing.append("\(service.name) \(address):\(instance.port) \(instance.health): \(failure)\n")
            }
        }
        return lines.joined(separator: "\n") + "\n(over \(interval) s)\n" + failing.joined()
    }
}
