import ArgumentParser
import Config
import Foundation
import Inject

@main
struct Mesher: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mesher",
        abstract: "Transparent sidecar proxy for service meshes.",
        version: "0.1.0",
        subcommands: [
            InitCommand.self, UninstallCommand.self, RunCommand.self, AwaitCommand.self, InjectCommand.self,
            StatusCommand.self,
        ])

    /// Bad input (unknown flag, bad value, bad config file) exits 2 with one line naming what is wrong;
    /// a failure while doing the work exits 1.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let isUsage =
                code == .validationFailure || error is ConfigError || error is InjectError
                || error is CaptureModeMismatch
            let hint = code == .validationFailure ? " (see 'mesher --help')" : ""
            FileHandle.standardError.write(Data("mesher: \(message(for: error))\(hint)\n".utf8))
            Foundation.exit(isUsage ? 2 : code.rawValue)
        }
    }
}
