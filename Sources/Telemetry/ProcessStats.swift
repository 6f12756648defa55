#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The process's own figures, read from /proc at each scrape (a few small reads: nothing is sampled between
/// scrapes, so an idle Mesher spends nothing on them).
public struct ProcessStats: Sendable, Equatable {
    public var residentBytes: Int
    public var openFDs: Int
    public var maxFDs: Int
    public var cpuSeconds: Double
    /// Since the epoch.
    public var startTime: Double

    public static func current() -> ProcessStats? {
        guard let stat = read("/proc/self/stat"), let statm = read("/proc/self/statm") else { return nil }
        // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // Fields 14 and 15 (utime, stime) and 22 (starttime), counting from 1 with the name as 2: here 11, 12, 19.
        guard fields.count > 19, let utime = Double(fields[11]), let stime = Double(fields[12]),
            let started = Double(fields[19])
        else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return ProcessStats(
            residentBytes: pages * Int(sysconf(Int32(_SC_PAGESIZE))), openFDs: countOpenFDs(),
            maxFDs: Int(clamping: limit.rlim_cur), cpuSeconds: (utime + stime) / ticks,
            startTime: bootTime() + started / ticks)
    }

    private static func countOpenFDs() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
        }
        return max(0, count - 1)  // the directory's own descriptor
    }

    private static func bootTime() -> Double {
        guard let stat = read("/proc/stat") else { return 0 }
        let line = stat.split(separator: "\n").first { $0.hasPrefix("btime ") }
        return line.flatMap { Double($0.dropFirst(6)) } ?? 0
    }

    /// A small /proc file, whole.
    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
            if bytes.count > 1 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
