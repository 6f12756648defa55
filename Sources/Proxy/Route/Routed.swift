import NIOCore
import NIOPosix
import Routing

/// What the Route stage hands on: where a connection or request goes, an instance of a registry service or
/// where the app was going.
enum Routed {
    /// `lease`: the instance, held (counted outstanding) until the request or connect settles.
    case service(name: String, lease: EndpointLease, address: SocketAddress)
    case original(SocketAddress)
    /// A host name to resolve (explicit proxy: no original destination to fall back on).
    case named(host: String, port: Int)
    /// A known service with no instance to send to.
    case noInstance(service: String)
    /// A known service with as many requests in flight as its `maxRequests` allows.
    case overflow(service: String)
    /// Nothing to send it to (explicit proxy request without a usable host).
    case unroutable
    /// Not sent anywhere (yet): answered by a route rule, or waiting out an injected delay.
    case local(service: String?)

    var address: SocketAddress? {
        switch self {
        case .service(_, _, let address), .original(let address): address
        case .named, .noInstance, .overflow, .unroutable, .local: nil
        }
    }

    var lease: EndpointLease? {
        if case .service(_, let lease, _) = self { lease } else { nil }
    }

    var serviceName: String? {
        switch self {
        case .service(let name, _, _), .noInstance(let name), .overflow(let name): name
        case .local(let name): name
        case .original, .named, .unroutable: nil
        }
    }

    /// The address to connect to; host names are resolved off the event loop (getaddrinfo blocks).
    func resolveAddress(on eventLoop: any EventLoop) -> EventLoopFuture<SocketAddress> {
        switch self {
        case .service(_, _, let address), .original(let address):
            return eventLoop.makeSucceededFuture(address)
        case .named(let host, let port):
            // NIO's shared blocking pool: a fixed set of threads, however many names are asked for at once.
            return NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) {
                try SocketAddress.makeAddressResolvingHost(host, port: port)
            }
        case .noInstance, .overflow, .unroutable, .local:
            return eventLoop.makeFailedFuture(ChannelError.connectPending)
        }
    }

    /// "host:port", "[v6]:port" or "host" (port 80).
    static func named(_ authority: String) -> Routed? {
        var host = Substring(authority)
        var port = 80
        if let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") {
            guard let parsed = Int(host[host.index(after: colon)...]), (1...65535).contains(parsed) else { return nil }
            port = parsed
            host = host[..<colon]
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return host.isEmpty ? nil : .named(host: String(host), port: port)
    }
}
