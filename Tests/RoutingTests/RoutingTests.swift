import Discovery
import Synchronization
import Testing

@testable import Routing

struct StaticDiscovery: ServiceDiscovery {
    var snapshot: RegistrySnapshot
    var sync = RegistrySync(synced: true, lastChange: 1)
}

/// A registry the test changes, telling its watchers what changed as the real ones do.
final class ChangingDiscovery: ServiceDiscovery {
    private let state = Mutex((RegistrySnapshot(), [@Sendable (RegistrySnapshot, RegistryChange) -> Void]()))

    var snapshot: RegistrySnapshot { state.withLock { $0.0 } }
    var sync: RegistrySync { RegistrySync(synced: true, lastChange: 1) }

    func watch(_ apply: @escaping @Sendable (RegistrySnapshot, RegistryChange) -> Void) {
        state.withLock {
            $0.1.append(apply)
            apply($0.0, .all)
        }
    }

    func set(_ service: String, _ instances: [ServiceInstance]?) {
        state.withLock {
            $0.0.set(service, instances)
            for watcher in $0.1 { watcher($0.0, .services([service])) }
        }
    }
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
        #expect(router.view.service(forHost: host) == "accountservice")
    }

    @Test(arguments: [
        "198.18.0.2:8080", "[2001:db8::1]:80", "example.test", "accountservice.example.test", "", "account",
    ])
    func hostNamesThatDoNot(_ host: String) {
        #expect(router.view.service(forHost: host) == nil)
    }

    @Test func instancesAreTheRegistrys() {
        #expect(router.view.instances(of: "AccountService").map(\.address) == ["198.18.0.2", "198.18.0.3"])
        #expect(router.view.instances(of: "nothing").isEmpty)
    }

    @Test func everyRegistryNameHasAVirtualIPAndNoOtherName() throws {
        let view = router.view
        let address = try #require(view.virtualIPs.address(of: "accountservice"))
        #expect(view.service(forVirtualIP: address) == "accountservice")
        #expect(view.virtualIPs.address(of: "storeweb") != nil)
        #expect(view.virtualIPs.address(of: "unknown") == nil, "a name not in the registry never gets one")
        #expect(view.virtualIPs.count == 2)
    }

    @Test func registeredInstancesNameTheirService() {
        #expect(router.view.service(atInstance: [198, 18, 0, 3], port: 8080) == "accountservice")
        #expect(router.view.service(atInstance: [198, 18, 0, 3], port: 80) == nil)
    }

    /// The registry's changes reach the view for the services they name; a loop's reader sees the new view
    /// on its next lookup and keeps its copy otherwise.
    @Test func changesReachReadersServiceByService() throws {
        let discovery = ChangingDiscovery()
        discovery.set("a", [ServiceInstance(service: "a", address: "198.18.0.2", port: 80)])
        let router = ServiceRouter(discovery: discovery, searchSuffixes: [])
        let reader = router.reader()
        let first = reader.current
        #expect(first.instances(of: "a").count == 1 && first.service(forHost: "b") == nil)
        let addressOfA = try #require(first.virtualIPs.address(of: "a"))

        discovery.set("b", [ServiceInstance(service: "b", address: "198.18.0.3", port: 80)])
        let second = reader.current
        #expect(second.service(forHost: "b") == "b" && second.virtualIPs.address(of: "b") != nil)
        #expect(second.service(atInstance: [198, 18, 0, 3], port: 80) == "b")
        #expect(second.virtualIPs.address(of: "a") == addressOfA, "a change moves no other name")
        #expect(first.service(forHost: "b") == nil, "a view is never changed once published")

        discovery.set("b", nil)
        let third = reader.current
        #expect(third.service(forHost: "b") == nil && third.virtualIPs.address(of: "b") == nil)
        #expect(third.service(atInstance: [198, 18, 0, 3], port: 80) == nil)
        #expect(third.instances(of: "a").count == 1)
    }

    /// Two services listing one address: the first in byte order owns it, the other takes over when it goes.
    @Test func sharedInstanceAddressFallsToTheOther() {
        let discovery = ChangingDiscovery()
        let router = ServiceRouter(discovery: discovery, searchSuffixes: [])
        discovery.set("zeta", [ServiceInstance(service: "zeta", address: "198.18.0.9", port: 80)])
        discovery.set("alpha", [ServiceInstance(service: "alpha", address: "198.18.0.9", port: 80)])
        #expect(router.view.service(atInstance: [198, 18, 0, 9], port: 80) == "alpha")
        discovery.set("alpha", nil)
        #expect(router.view.service(atInstance: [198, 18, 0, 9], port: 80) == "zeta")
    }
}
