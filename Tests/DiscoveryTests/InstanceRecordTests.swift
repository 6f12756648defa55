import Foundation
import Testing

@testable import Discovery

/// One record for both registries: etcd values keep the JSON that earlier Meshers wrote and read, and the same
/// checks refuse a bad entry in either.
struct InstanceRecordTests {
    let instance = ServiceInstance(
        service: "AccountService", address: "198.18.0.2", port: 8080, version: "1.0.0", tags: ["zone": "a"])

    @Test func etcdValueIsTheJSONOfBefore() throws {
        let json = try JSONEncoder().encode(InstanceRecord(instance))
        let fields = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(Set(fields.keys) == ["service", "address", "port", "version", "tags", "status"])
        #expect(fields["service"] as? String == "AccountService" && fields["status"] as? String == "up")
        #expect(fields["port"] as? Int == 8080 && fields["tags"] as? [String: String] == ["zone": "a"])
    }

    @Test func protocolIsReadAndWrittenOnlyWhenNotAuto() throws {
        var h2c = instance
        h2c.protocol = .h2c
        let json = try JSONEncoder().encode(InstanceRecord(h2c))
        let record = try JSONDecoder().decode(InstanceRecord.self, from: json)
        #expect(record.protocol == "h2c")
        #expect(try record.instance(of: "AccountService") == h2c)
        #expect(InstanceRecord(instance).protocol == nil)
        let rendered = RegistryFile.render(h2c, heartbeat: 1, ttl: 10)
        #expect(rendered.contains("protocol: h2c"))
    }

    @Test func readsWhatEarlierMeshersAndOtherWritersPut() throws {
        let value = #"""
            {"service":"AccountService","address":"198.18.0.2","port":8080,"version":"1.0.0","tags":{"zone":"a"},
             "status":"up","weight":3}
            """#
        let record = try JSONDecoder().decode(InstanceRecord.self, from: Data(value.utf8))
        #expect(try record.instance(of: try #require(record.service)) == instance)
        var down = record
        down.status = "down"
        #expect(try down.instance(of: "AccountService").isUp == false)
    }

    @Test(
        arguments: [
            (#"{"service":"bad name","address":"198.18.0.2","port":1}"#, "service"),
            (#"{"service":"A","address":"nowhere","port":1}"#, "address"),
            // No single host's: 0.0.0.0 and :: are this host to connect(), whoever reads the registry.
            (#"{"service":"A","address":"0.0.0.0","port":15000}"#, "address"),
            (#"{"service":"A","address":"0.1.2.3","port":1}"#, "address"),
            (#"{"service":"A","address":"::","port":15000}"#, "address"),
            (#"{"service":"A","address":"::ffff:0.0.0.0","port":15000}"#, "address"),
            (#"{"service":"A","address":"224.0.0.1","port":1}"#, "address"),
            (#"{"service":"A","address":"239.255.255.250","port":1}"#, "address"),
            (#"{"service":"A","address":"::ffff:224.0.0.1","port":1}"#, "address"),
            (#"{"service":"A","address":"ff02::1","port":1}"#, "address"),
            (#"{"service":"A","address":"255.255.255.255","port":1}"#, "address"),
            (#"{"service":"A","address":"198.18.0.2","port":70000}"#, "port"),
            (#"{"service":"A","address":"198.18.0.2","port":1,"status":"sleepy"}"#, "status"),
            (#"{"service":"A","address":"198.18.0.2","port":1,"tags":{"":"x"}}"#, "tags"),
            (#"{"service":"A","address":"198.18.0.2","port":1,"protocol":"h3"}"#, "protocol"),
            (#"{"service":"A","address":"198.18.0.2","port":1,"ttl":3}"#, nil),
        ] as [(String, String?)])
    func refusesWhatIsNoInstance(_ value: String, _ field: String?) throws {
        let record = try JSONDecoder().decode(InstanceRecord.self, from: Data(value.utf8))
        #expect(throws: InstanceRecord.Problem.self) { try record.instance(of: record.service ?? "") }
        do {
            _ = try record.instance(of: record.service ?? "")
        } catch {
            #expect(error.field == field)
        }
    }

    /// A file entry and an etcd value are the same schema: the file's rendering of an instance reads back as the
    /// record etcd would hold, less the service (the file lists it under its name) and plus the heartbeat.
    @Test func fileEntryIsTheSameRecord() throws {
        let content = try RegistryFile.parse(
            RegistryFile.render(instance, heartbeat: 1.5, ttl: 10), source: "a.yaml")
        #expect(content.listings == [RegistryFile.Listing(instance: instance, heartbeat: 1.5, ttl: 10)])
    }
}
