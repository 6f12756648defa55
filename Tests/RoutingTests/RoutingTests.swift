import Discovery
import Testing

@testable import Routing

struct StaticDiscovery: ServiceDiscovery {
    var snapshot: RegistrySnapshot
    var sync = RegistrySync(synced: true, lastChange: 1)
}

struct ServiceRouterTests {
    let router = ServiceRouter(
        discovery: StaticDiscovery(
            snapshot: RegistrySnapshot([
                ServiceInstance(service: "AccountService", address: "198.18.0.2", port: 8080),
                ServiceInstance(service: "AccountService", address: "198.18.0.3", port: 8080),
                ServiceInstance(service: "StoreWeb", address: "198.18.0.4", port: 80),
            ])), searchSuffixes: ["svc.cluster.local", "cluster.local"])

    @Test(arguments: [
        "AccountService", "accountservice", "ACCOUNTSERVICE:8080", "accountservice.",
        "accountservice.svc.cluster.local",
        "accountservice.default.svc.cluster.local", "AccountService.default.svc.cluster.local:8080",
    ])
    func hostNamesThatMeanTheService(_ host: String) {
        #expect(router.service(forHost: host) == "accountservice")
    }

    @Test(arguments: [
        "198.18.0.2:8080", "[2001:db8::1]:80", "example.test", "accountservice.example.test", "", "account",
    ])
    func hostNamesThatDoNot(_ host: String) {
        #expect(router.service(forHost: host) == nil)
    }

    @Test func instancesAreTheRegistrys() {
        #expect(router.instances(of: "AccountService").map(\.address) == ["198.18.0.2", "198.18.0.3"])
        #expect(router.instances(of: "nothing").isEmpty)
    }
}

struct VirtualIPTableTests {
    @Test func addressesAreStableAndReversible() {
        let table = VirtualIPTable()
        let address = table.address(for: "accountservice")
        #expect(address.prefix(2) == [240, 240])
        #expect(table.address(for: "accountservice") == address)
        #expect(VirtualIPTable().address(for: "accountservice") == address, "same name, same address after a restart")
        #expect(table.service(at: address) == "accountservice")
        #expect(table.service(at: [240, 240, 0, 0]) == nil)
        #expect(table.service(at: [198, 18, 0, 1]) == nil)
    }

    @Test func collisionsGetDistinctAddresses() {
        let table = VirtualIPTable()
        let names = (0..<70000).map { "svc\($0)" }.prefix(3000)
        let addresses = Set(names.map { table.address(for: $0) })
        #expect(addresses.count == names.count)
        #expect(!addresses.contains([240, 240, 0, 0]) && !addresses.contains([240, 240, 255, 255]))
    }

    @Test func ipv6AddressesFollowTheIPv4Ones() {
        let prefix: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff] + Array(repeating: 0, count: 6)
        let table = VirtualIPTable(ipv6Prefix: prefix)
        let v6 = table.ipv6Address(for: "accountservice")
        #expect(v6 == prefix + table.address(for: "accountservice"))
        #expect(table.service(at: v6!) == "accountservice")
        #expect(VirtualIPTable().ipv6Address(for: "accountservice") == nil)
        #expect(table.service(at: [0x20, 0x01] + Array(repeating: 0, count: 14)) == nil)
    }
}
