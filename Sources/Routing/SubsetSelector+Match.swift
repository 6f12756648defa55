import Discovery
import MesherBase

extension SubsetSelector {
    /// Whether the registry entry of `instance` has this subset's version and tags.
    public func matches(_ instance: ServiceInstance) -> Bool {
        if let version, instance.version != version { return false }
        return tags.allSatisfy { instance.tags[$0.key] == $0.value }
    }
}
