import Foundation

/// One inotify watch on the registry directory: which names changed, so that only those are read again. The
/// kernel queues what happens while Mesher is busy; a full queue, the directory itself going, or a name of
/// Kubernetes' atomic writer (`..data`, swapped when a ConfigMap changes: the files are links into it) ask for
/// a full scan instead.
final class DirectoryWatch {
    enum Change: Equatable {
        /// Read these again (names in the directory; created, written, renamed or removed).
        case names(Set<String>)
        /// Look at everything: the watch cannot say what changed.
        case everything
        /// The directory was removed or renamed: the watch is gone.
        case lost
    }

    let descriptor: Int32
    private let directory: String

    /// nil when inotify cannot be had (out of instances or watches) or the directory is not there.
    init?(directory: String) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        let mask =
            IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_ATTRIB | IN_DELETE_SELF
            | IN_MOVE_SELF | IN_ONLYDIR
        guard inotify_add_watch(fd, directory, UInt32(mask)) >= 0 else {
            close(fd)
            return nil
        }
        descriptor = fd
        self.directory = directory
    }

    deinit { close(descriptor) }

    /// Everything queued now (the descriptor is non-blocking), folded into one change.
    func drain() -> Change {
        var names: Set<String> = []
        var everything = false
        // Room for many events; at least one of the largest (a name of NAME_MAX bytes).
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= count {
                let (mask, length) = buffer.withUnsafeBytes { bytes in
                    let event = bytes.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.mask, Int(event.len))
                }
                let start = offset + MemoryLayout<inotify_event>.size
                offset = start + length
                if mask & UInt32(IN_Q_OVERFLOW) != 0 { everything = true }
                if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED) != 0 { return .lost }
                guard length > 0, offset <= count else { continue }
                let name = String(decoding: buffer[start..<offset].prefix { $0 != 0 }, as: UTF8.self)
                if name.hasPrefix("..") {
                    everything = true
                } else if mask & UInt32(IN_CREATE) != 0 {
                    // A new file is read once written (IN_CLOSE_WRITE); a new link has nothing more to come.
                    if isLink(name) { names.insert(name) }
                } else {
                    names.insert(name)
                }
            }
        }
        return everything ? .everything : .names(names)
    }

    /// Not NFS, SMB, a FUSE file system, Ceph, 9p or virtiofs, where another host's writes raise no event here;
    /// nil while the directory is not there.
    static func isLocal(_ directory: String) -> Bool? {
        guard let real = realpath(directory, nil) else { return nil }
        let path = String(cString: real)
        free(real)
        guard let table = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8),
            let type = fileSystemType(of: path, in: table)
        else { return true }
        let remote = ["nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "9p", "virtiofs", "glusterfs", "lustre", "afs"]
        return !remote.contains(String(type)) && !type.hasPrefix("fuse")
    }

    /// The type of the mount holding `path` (the longest mount point above it), from a mountinfo table:
    /// `id parent major:minor root mount-point options [optional...] - type source options`.
    static func fileSystemType(of path: String, in table: String) -> Substring? {
        var best: (length: Int, type: Substring)?
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            let mountPoint = fields[4].replacingOccurrences(of: "\\040", with: " ")
            let holds = path == mountPoint || path.hasPrefix(mountPoint == "/" ? "/" : mountPoint + "/")
            if holds && mountPoint.count >= (best?.length ?? -1) { best = (mountPoint.count, fields[dash + 1]) }
        }
        return best?.type
    }

    private func isLink(_ name: String) -> Bool {
        var info = stat()
        return lstat(directory + "/" + name, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
    }
}
