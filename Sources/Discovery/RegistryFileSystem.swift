import Foundation

/// A failed system call, with its errno: EMFILE (out of descriptors), EACCES and EIO must be told apart
/// from a file that is simply gone.
public struct SystemCallError: Error, CustomStringConvertible, Equatable {
    public var call: String
    public var code: Int32

    public init(_ call: String, _ code: Int32) {
        self.call = call
        self.code = code
    }

    public var description: String { "\(call): \(String(cString: strerror(code))) (errno \(code))" }
}

/// What a registry file looks like without reading it: a change of any part means "read it again".
struct FileStamp: Equatable, Sendable {
    var modifiedSeconds: Int
    var modifiedNanoseconds: Int
    var size: Int
    var inode: UInt64
}

enum StampResult: Equatable, Sendable {
    case file(FileStamp)
    /// Removed, or not a regular file (a directory named like a registry file): not part of the registry.
    case gone
    /// Exists as far as we know, but cannot be looked at now (EACCES, EIO): keep what was read before.
    case failed(SystemCallError)
}

enum RegistryReadError: Error, Equatable {
    case tooLarge
    case system(SystemCallError)
}

/// The file system as the file registry uses it: a seam so that tests can make any call fail the way it
/// does when Mesher runs out of descriptors or loses access, which a test running as root cannot provoke.
protocol RegistryFileSystem: Sendable {
    func list(_ directory: String) throws(SystemCallError) -> [String]
    func stamp(_ path: String) -> StampResult
    /// The whole file, or `tooLarge` when it has more than `limit` bytes.
    func read(_ path: String, limit: Int) throws(RegistryReadError) -> [UInt8]
    /// Readers see the old file or the new one, never a part (a temporary file renamed over it).
    func writeAtomically(_ text: String, to path: String) throws(SystemCallError)
    func remove(_ path: String) throws(SystemCallError)
}

struct PosixRegistryFileSystem: RegistryFileSystem {
    func list(_ directory: String) throws(SystemCallError) -> [String] {
        guard let stream = opendir(directory) else { throw SystemCallError("opendir", errno) }
        defer { closedir(stream) }
        var names: [String] = []
        errno = 0
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
            errno = 0
        }
        // readdir returns nil at the end and on an error; only errno tells them apart.
        if errno != 0 { throw SystemCallError("readdir", errno) }
        return names
    }

    func stamp(_ path: String) -> StampResult {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return errno == ENOENT || errno == ENOTDIR ? .gone : .failed(SystemCallError("stat", errno))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .gone }
        return .file(
            FileStamp(
                modifiedSeconds: info.st_mtim.tv_sec, modifiedNanoseconds: info.st_mtim.tv_nsec,
                size: Int(info.st_size),
                inode: UInt64(info.st_ino)))
    }

    func read(_ path: String, limit: Int) throws(RegistryReadError) -> [UInt8] {
        // Non-blocking: a FIFO put in place of a file must not stall the scan.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .system(SystemCallError("open", errno)) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        // One byte past the limit is enough to know the file is too large, however large it is.
        while bytes.count <= limit {
            let count = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw .system(SystemCallError("read", errno))
            }
            bytes += chunk[..<count]
        }
        guard bytes.count <= limit else { throw .tooLarge }
        return bytes
    }

    func writeAtomically(_ text: String, to path: String) throws(SystemCallError) {
        // Not ending in .yaml, so that a scan never reads it half written; readable by other uids before
        // it takes the real name.
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemCallError("open", errno) }
        var failure: SystemCallError?
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count && failure == nil {
            let count = bytes[written...].withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno != EINTR { failure = SystemCallError("write", errno) }
            if count > 0 { written += count }
        }
        if failure == nil && fchmod(fd, 0o644) != 0 { failure = SystemCallError("fchmod", errno) }
        if close(fd) != 0 && failure == nil { failure = SystemCallError("close", errno) }
        if failure == nil && rename(temporary, path) != 0 { failure = SystemCallError("rename", errno) }
        if let failure {
            unlink(temporary)
            throw failure
        }
    }

    func remove(_ path: String) throws(SystemCallError) {
        if unlink(path) != 0 && errno != ENOENT { throw SystemCallError("unlink", errno) }
    }
}

// The methods above are named like the system calls they make.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }
