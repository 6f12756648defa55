import ArgumentParser
import Foundation
import HTTPClients
import MesherBase
import NIOCore
import NIOPosix

/// `mesher await -- CMD`: for images that cannot use native sidecars, the app's command waits until
/// Mesher is ready, so that its first connections are not refused (redirect mode) or go direct (nfqueue).
struct AwaitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "await",
        abstract: "Wait until Mesher serves (its /ready), then run the command in place of this process.",
        discussion: """
            Fail-open: after --timeout the command runs anyway, with a warning, as it would without Mesher.
            Example: mesher await -- /app/server --port 8080
            """)

    @Option(help: "Mesher's admin address.")
    var admin = "127.0.0.1:\(MesherDefaults.adminPort)"

    @Option(help: "Seconds to wait for readiness before running the command anyway.")
    var timeout: Double = 60

    @Argument(parsing: .captureForPassthrough, help: "The command to run, after '--'.")
    var command: [String]

    mutating func validate() throws {
        if command.first == "--" { command.removeFirst() }
        guard !command.isEmpty else { throw ValidationError("no command: mesher await -- CMD [ARG...]") }
        guard timeout >= 0 && timeout <= 3600 else { throw ValidationError("--timeout: 0 to 3600 seconds") }
        guard AdminAddress(admin) != nil else { throw ValidationError("--admin: expected HOST:PORT, got '\(admin)'") }
    }

    func run() async throws {
        let base = AdminAddress(admin)!.url
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let client = MesherHTTPClient(group: eventLoop)
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while await !ReadinessProbe.isReady(admin: base, client: client, on: eventLoop) {
            guard ContinuousClock.now < deadline else {
                Self.warn("Mesher not ready at \(admin) after \(timeout)s: running the command anyway")
                break
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        try? await client.shutdown()
        Self.exec(command)
    }

    /// Replaces this process, so that signals and the exit status are the app's own.
    private static func exec(_ command: [String]) -> Never {
        let argv = command.map { strdup($0) } + [nil]
        execvp(command[0], argv)
        warn("cannot run '\(command[0])': \(String(cString: strerror(errno)))")
        Foundation.exit(127)
    }

    private static func warn(_ message: String) {
        FileHandle.standardError.write(Data("mesher await: \(message)\n".utf8))
    }
}
