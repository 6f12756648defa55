/// What etcd holds under `<prefix>services/`, as Mesher keeps it: each service's instances, in key order, and
/// nothing else per instance for keys laid out as Mesher writes them (`<Service>/<address>:<port>`): 100,000
/// instances cost what their snapshot does. A key of another layout keeps its last part beside its instance.
struct EtcdView {
    private(set) var snapshot = RegistrySnapshot()
    /// Per lowercased service, parallel to its instances: nil where the key's last part is the instance's
    /// `address:port`, else that part.
    private var suffixes: [String: [String?]] = [:]
    let servicesPrefix: String

    init(servicesPrefix: String) {
        self.servicesPrefix = servicesPrefix
    }

    /// A key's service (lowercased) and last part; nil for a key outside the layout.
    func locate(_ key: String) -> (service: String, suffix: Substring)? {
        guard key.hasPrefix(servicesPrefix) else { return nil }
        let rest = key.dropFirst(servicesPrefix.count)
        guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex, rest.index(after: slash) != rest.endIndex
        else { return nil }
        return (rest[..<slash].lowercased(), rest[rest.index(after: slash)...])
    }

    /// Puts `instance` under `key`, or deletes the key (nil); whether its service changed.
    mutating func apply(key: String, instance: ServiceInstance?) -> String? {
        guard let (service, suffix) = locate(key) else { return nil }
        var instances = snapshot.services[service] ?? []
        var parts = suffixes[service] ?? []
        // Sorted by key: a binary search, so that a service of 10,000 instances costs an event what one of ten does.
        var low = 0
        var high = instances.count
        while low < high {
            let middle = (low + high) / 2
            if Self.suffix(parts[middle], instances[middle]) < suffix { low = middle + 1 } else { high = middle }
        }
        if low < instances.count && Self.suffix(parts[low], instances[low]) == suffix {
            instances.remove(at: low)
            parts.remove(at: low)
        }
        if let instance {
            instances.insert(instance, at: low)
            parts.insert(Self.suffix(nil, instance) == suffix ? nil : String(suffix), at: low)
        }
        suffixes[service] = parts.isEmpty ? nil : parts
        return snapshot.set(service, instances.isEmpty ? nil : instances) ? service : nil
    }

    /// A full read, page after page: each service's instances as they come (in key order, as etcd sends them).
    struct Builder {
        fileprivate var services: [String: (instances: [ServiceInstance], parts: [String?])] = [:]
        /// Services whose keys came out of order (keys of one service in two spellings, "A/" and "a/"):
        /// sorted at the end.
        fileprivate var unordered: Set<String> = []

        mutating func add(_ service: String, _ suffix: Substring, _ instance: ServiceInstance) {
            var entry = services.removeValue(forKey: service) ?? ([], [])
            if let last = entry.instances.last, EtcdView.suffix(entry.parts.last!, last) >= suffix {
                unordered.insert(service)
            }
            entry.instances.append(instance)
            entry.parts.append(EtcdView.suffix(nil, instance) == suffix ? nil : String(suffix))
            services[service] = entry
        }
    }

    /// Becomes exactly what `built` read; the services that differ.
    mutating func load(_ built: Builder) -> Set<String> {
        var changed: Set<String> = []
        for service in snapshot.services.keys where built.services[service] == nil {
            snapshot.set(service, nil)
            suffixes[service] = nil
            changed.insert(service)
        }
        for (service, (instances, parts)) in built.services {
            var (instances, parts) = (instances, parts)
            if built.unordered.contains(service) {
                let order = instances.indices.sorted {
                    Self.suffix(parts[$0], instances[$0]) < Self.suffix(parts[$1], instances[$1])
                }
                (instances, parts) = (order.map { instances[$0] }, order.map { parts[$0] })
            }
            // Exactly as large as they are: appending left up to twice the room.
            suffixes[service] = parts.withUnsafeBufferPointer(Array.init)
            if snapshot.set(service, instances.withUnsafeBufferPointer(Array.init)) { changed.insert(service) }
        }
        return changed
    }

    /// Whether an instance's key is laid out as Mesher writes it, and what the service part must say.
    func accepts(_ key: String, _ instance: ServiceInstance) -> Bool {
        locate(key)?.service == instance.service.lowercased()
    }

    fileprivate static func suffix(_ part: String?, _ instance: ServiceInstance) -> Substring {
        Substring(part ?? "\(instance.address):\(instance.port)")
    }
}
