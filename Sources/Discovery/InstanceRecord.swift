import MesherBase

/// One instance as both registries store it: an entry of a registry file (YAML, listed under its service's name)
/// and the value of an etcd key under `<prefix>services/<service>/<address>:<port>` (plain JSON, so that a
/// consumer without Mesher can read it with `etcdctl get --prefix /mesher/services/`). Fields that other writers
/// add are ignored.
struct InstanceRecord: Codable, Equatable, Sendable {
    /// In etcd values; a file lists its entries under the service's name, and this field there is not read.
    var service: String?
    var address: String
    var port: Int
    var version: String?
    var app: String?
    var environment: String?
    var tags: [String: String]?
    /// "auto" (absent), "http1" or "h2c".
    var `protocol`: String?
    /// "up" or "down"; absent (a hand-written entry) is up.
    var status: String?
    /// Entries that a provider's Mesher keeps in a file: unix seconds of its last refresh, and the seconds after it
    /// that the entry counts as gone (the writer's, so readers need no setting). etcd has leases instead.
    var heartbeat: Double?
    var ttl: Double?

    init(_ instance: ServiceInstance, heartbeat: Double? = nil, ttl: Double? = nil) {
        service = instance.service
        address = instance.address
        port = instance.port
        version = instance.version
        app = instance.app
        environment = instance.environment
        tags = instance.tags.isEmpty ? nil : instance.tags
        `protocol` = instance.protocol == .auto ? nil : instance.protocol.rawValue
        status = instance.isUp ? "up" : "down"
        self.heartbeat = heartbeat
        self.ttl = ttl
    }

    /// Why a record is no instance: the field at fault (nil: the record as a whole) and a message that never
    /// quotes the value (the registry may be shared with other writers, and what they wrote is not for the log).
    struct Problem: Error, Equatable {
        var field: String?
        var message: String
    }

    /// The instance of `service` (the file's key, or this record's own field) that the record describes.
    func instance(of service: String) throws(Problem) -> ServiceInstance {
        guard RegistryFile.isServiceName(service) else {
            throw Problem(field: "service", message: "not a valid service name (letters, digits and '-')")
        }
        guard let bytes = IPAddressText.ipv4(address) ?? IPAddressText.ipv6(address) else {
            throw Problem(field: "address", message: "not an IP address")
        }
        // 0.0.0.0 would send every consumer's calls into its own Mesher (connect() reaches a local listener).
        guard IPAddressText.isOneHost(bytes) else {
            throw Problem(field: "address", message: "not one host's address (unspecified, multicast or broadcast)")
        }
        guard (1...65535).contains(port) else { throw Problem(field: "port", message: "must be 1-65535") }
        guard status == nil || status == "up" || status == "down" else {
            throw Problem(field: "status", message: "must be up or down")
        }
        // An empty key (`{&a : b}`) decodes as a tag named "", which a rendered file cannot carry (Yams finds no ""
        // key).
        guard tags?.keys.contains("") != true else {
            throw Problem(field: "tags", message: "a tag name must not be empty")
        }
        guard let spoken = InstanceProtocol(rawValue: `protocol` ?? "auto") else {
            throw Problem(field: "protocol", message: "must be auto, http1 or h2c")
        }
        guard (heartbeat == nil) == (ttl == nil) else {
            throw Problem(field: nil, message: "heartbeat and ttl go together")
        }
        if let heartbeat, !(heartbeat.isFinite && heartbeat >= 0) {
            throw Problem(field: "heartbeat", message: "must be unix seconds")
        }
        if let ttl, !(ttl.isFinite && ttl > 0) {
            throw Problem(field: "ttl", message: "must be a number of seconds above 0")
        }
        return ServiceInstance(
            service: service, address: address, port: port, version: version, app: app, environment: environment,
            tags: tags ?? [:], protocol: spoken, isUp: status != "down")
    }
}
