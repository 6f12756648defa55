import Foundation
import Subprocess
import SystemPackage

/// Runs a system tool and collects its output. swift-subprocess, not Foundation's `Process`: on Linux,
/// `Process` waits for its child through a CFSocket that needs loopback up, and hangs in a new network
/// namespace where it is still down (an init container's case; EndToEnd InitCommandTests checks it).
enum Command {
    struct Result {
        var status: Int32
        var output: String
        var error: String
    }

    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]
    /// iptables-save of a node with many services is megabytes; more than this is not a table Mesher reads.
    static let outputLimit = 64 << 20

    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").map(String.init) ?? []
        return (path + searchPath).map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func run(_ name: String, _ arguments: [String], input: String? = nil) async throws(CaptureError) -> Result {
        guard let executable = find(name) else { throw .toolMissing(name) }
        do {
            let result = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(arguments), input: .string(input ?? ""),
                output: .string(limit: outputLimit), error: .string(limit: 1 << 20))
            let status: Int32 =
                switch result.terminationStatus {
                case .exited(let code): code
                case .signaled(let signal): 128 + signal
                }
            return Result(status: status, output: result.standardOutput, error: result.standardError)
        } catch {
            throw .toolFailed(name, "\(error)")
        }
    }
}
