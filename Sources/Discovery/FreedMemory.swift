#if canImport(Glibc)
    import Glibc
#endif

/// A full read of a large registry allocates its size several times over while it decodes (pages, JSON,
/// groupings) and frees it after: glibc keeps those pages unless asked (72 MiB resident against 24 MiB in
/// use after reading 100,000 instances from etcd, 50 MiB after `malloc_trim`). Called once per full read,
/// never per change. Looked up at run time: Swift's Glibc module does not declare it (and musl has none).
func returnFreedMemory() {
    #if canImport(Glibc)
        typealias Trim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    #endif
}
