import Foundation

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a command to completion (killed after `timeout` seconds) and collects its output.
@discardableResult
func sh(_ arguments: [String], timeout: TimeInterval = 120) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let killer = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
    let errors = PipeReader(stderr)
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    killer.cancel()
    return CommandResult(
        status: process.terminationStatus, stdout: String(decoding: output, as: UTF8.self), stderr: errors.text())
}

/// Drains a pipe on another thread so that a chatty child never blocks on it.
final class PipeReader: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ pipe: Pipe) {
        DispatchQueue.global().async {
            self.data = pipe.fileHandleForReading.readDataToEndOfFile()
            self.done.signal()
        }
    }

    func text() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}

struct ShellError: Error, CustomStringConvertible {
    var description: String
}

extension CommandResult {
    /// Fails with the command's own words when it did not exit 0.
    @discardableResult
    func check(_ what: String) throws -> CommandResult {
        guard status == 0 else { throw ShellError(description: "\(what) exited \(status): \(stderr)\(stdout)") }
        return self
    }
}
