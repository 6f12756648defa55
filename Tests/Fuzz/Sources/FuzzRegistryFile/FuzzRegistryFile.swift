import FuzzSupport
import MesherBase

@testable import Discovery

/// `RegistryFile.parse` on a file's content, as the file registry reads it (UTF-8, or skipped). A file that parses
/// holds only valid instances (at an address one host can have), and each instance survives the round trip a
/// provider's Mesher makes it take: rendered to a file of its own, then parsed by the other Meshers. The fast
/// reading of the usual file and the Codable one agree.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard let text = String(validating: bytes, as: UTF8.self),
        let content = try? RegistryFile.parse(text, source: "fuzz.yaml")
    else { return 0 }
    // The fast reading of the usual file gives what the Codable path gives, whenever it reads one.
    if let root = try? RegistryFile.compose(text, source: "fuzz.yaml"), let plain = RegistryFile.plainContent(root) {
        let decoded = try? RegistryFile.decodedContent(root, source: "fuzz.yaml")
        invariant(
            decoded?.listings == plain.listings && decoded.map { Set($0.services) } == Set(plain.services),
            "read apart:\n\(text)\nfast: \(plain)\nCodable: \(decoded.map { "\($0)" } ?? "refused")")
    }
    for listing in content.listings {
        let instance = listing.instance
        invariant(RegistryFile.isServiceName(instance.service), "invalid service name '\(instance.service)'")
        let address = IPAddressText.ipv4(instance.address) ?? IPAddressText.ipv6(instance.address)
        invariant(address.map(IPAddressText.isOneHost) == true, "not one host's address '\(instance.address)'")
        invariant((1...65535).contains(instance.port), "invalid port \(instance.port)")
        // What a provider's Mesher writes: the instance with a heartbeat and ttl that survive the file exactly.
        let rendered = RegistryFile.render(instance, heartbeat: 1.5, ttl: 10)
        do {
            let again = try RegistryFile.parse(rendered, source: "rendered.yaml")
            invariant(
                again.listings == [RegistryFile.Listing(instance: instance, heartbeat: 1.5, ttl: 10)],
                "rendered instance parses differently:\n\(instance)\n\(rendered)\n\(again.listings)")
        } catch {
            invariant(false, "rendered instance does not parse: \(error)\n\(instance)\n\(rendered)")
        }
    }
    return 0
}
