#if canImport(Glibc)
    import Glibc
#endif

/// Gives the pages the allocator keeps after a peak back to the system. A full read of a large registry
/// allocates its size several times over while it decodes and frees it after, as a burst of connections or
/// stalled HTTP/2 readers do: glibc keeps those pages unless asked (72 MiB resident against 24 MiB in use
/// after reading 100,000 instances from etcd, 50 MiB after `malloc_trim`). Called after such a peak, never per
/// change or request, and off the event loops (it walks every arena). Looked up at run time: Swift's Glibc
/// module does not declare it (and musl has none).
public func returnFreedMemory() {
    #if canImport(Glibc)
        typealias Trim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    #endif
}
