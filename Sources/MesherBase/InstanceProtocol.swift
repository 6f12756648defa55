/// What an instance speaks when Mesher sends it HTTP (the registry entry's `protocol`).
public enum InstanceProtocol: String, Sendable, CaseIterable {
    /// What the client spoke: HTTP/1 requests go as HTTP/1, HTTP/2 streams as HTTP/2 (the client's prior
    /// knowledge of the service says it speaks it).
    case auto
    case http1
    /// HTTP/2 in clear text, by prior knowledge (gRPC).
    case h2c
}
