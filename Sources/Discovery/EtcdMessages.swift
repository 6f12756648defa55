/// The parts of etcd's v3 gateway replies that Mesher reads (int64 fields come as strings).
struct EtcdHeader: Decodable, Sendable {
    var revision: String?
}

struct EtcdKeyValue: Decodable, Sendable {
    var key: String
    var value: String?
}

struct EtcdRangeReply: Decodable, Sendable {
    var header: EtcdHeader?
    var kvs: [EtcdKeyValue]?
    /// More keys past the request's `limit`.
    var more: Bool?
}

struct EtcdLeaseGrantReply: Decodable, Sendable {
    var id: String
    enum CodingKeys: String, CodingKey { case id = "ID" }
}

struct EtcdKeepAliveReply: Decodable, Sendable {
    struct Result: Decodable, Sendable {
        var ttl: String?
        enum CodingKeys: String, CodingKey { case ttl = "TTL" }
    }
    var result: Result?

    /// etcd answers a lease it no longer has with no TTL: it expired, or etcd lost its data.
    var leaseAlive: Bool { (result?.ttl).flatMap(Int.init).map { $0 > 0 } ?? false }
}

struct EtcdWatchReply: Decodable, Sendable {
    struct Event: Decodable, Sendable {
        /// Absent for a put.
        var type: String?
        var kv: EtcdKeyValue
    }
    struct Result: Decodable, Sendable {
        var events: [Event]?
        var canceled: Bool?
    }
    var result: Result?
}
