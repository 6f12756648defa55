import Foundation

#if canImport(Glibc)
    import Glibc
#endif

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
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

/// A child process started with posix_spawn. Foundation's `Process.run()` crashed (memcpy inside it)
/// while test suites ran in parallel, so the tests do not use it.
final class Child: @unchecked Sendable {
    /// Held while descriptors are created and a child is started: a pipe is marked close-on-exec just
    /// after it is made, and a child started in between would keep its write end (and its reader waiting).
    static let launchLock = NSRecursiveLock()

    let processIdentifier: pid_t
    private let lock = NSLock()
    private var status: Int32?

    /// Runs `arguments` (looked up in PATH) with the given standard output and error descriptors.
    init(_ arguments: [String], stdout: Int32, stderr: Int32, stdin: Int32? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin {
            posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        // The test runner's threads block most signals, and a child inherits its parent thread's mask: without
        // this reset a child would ignore SIGTERM (and so would everything it starts).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        var pid: pid_t = 0
        let result = Self.launchLock.withLock { posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ) }
        guard result == 0 else {
            throw ShellError(description: "cannot start \(arguments[0]): \(String(cString: strerror(result)))")
        }
        processIdentifier = pid
    }

    var isRunning: Bool { poll(block: false) == nil }

    /// The exit status (128 + signal when killed).
    var terminationStatus: Int32 { poll(block: true) ?? -1 }

    func waitUntilExit() { _ = poll(block: true) }

    private func poll(block: Bool) -> Int32? {
        lock.withLock {
            if let status { return status }
            var raw: Int32 = 0
            let result = waitpid(processIdentifier, &raw, block ? 0 : WNOHANG)
            guard result == processIdentifier else { return nil }
            status = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            return status
        }
    }
}

/// Runs a command to completion (killed after `timeout` seconds) and collects its output.
@discardableResult
func sh(_ arguments: [String], timeout: TimeInterval = 120) throws -> CommandResult {
    var out: [Int32] = [-1, -1]
    var err: [Int32] = [-1, -1]
    let child: Child = try Child.launchLock.withLock {
        guard pipe(&out) == 0, pipe(&err) == 0 else { throw ShellError(description: "pipe failed") }
        for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        do {
            let child = try Child(arguments, stdout: out[1], stderr: err[1])
            close(out[1])
            close(err[1])
            return child
        } catch {
            for fd in out + err { close(fd) }
            throw error
        }
    }
    let killer = DispatchWorkItem { if child.isRunning { kill(child.processIdentifier, SIGKILL) } }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
    let errors = DescriptorReader(err[0])
    let output = readAll(out[0])
    let status = child.terminationStatus
    killer.cancel()
    return CommandResult(status: status, stdout: output, stderr: errors.text())
}

private func readAll(_ fd: Int32) -> String {
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count > 0 {
            data += buffer[..<count]
        } else if count == 0 || errno != EINTR {
            break
        }
    }
    close(fd)
    return String(decoding: data, as: UTF8.self)
}

/// Drains a descriptor on another thread so that a chatty child never blocks on it.
final class DescriptorReader: @unchecked Sendable {
    private var result = ""
    private let done = DispatchSemaphore(value: 0)

    init(_ fd: Int32) {
        DispatchQueue.global().async {
            self.result = readAll(fd)
            self.done.signal()
        }
    }

    func text() -> String {
        done.wait()
        return result
    }
}
