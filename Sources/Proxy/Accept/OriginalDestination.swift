import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Where a captured connection was going before iptables REDIRECTed it to Mesher.
enum OriginalDestination {
    /// `SO_ORIGINAL_DST` (linux/netfilter_ipv4.h) and `IP6T_SO_ORIGINAL_DST` share the value 80.
    private static let optionName = NIOBSDSocket.Option(rawValue: 80)

    /// Reads the conntrack entry of the accepted socket; fails (ENOENT) when the connection was not NATed.
    static func of(_ channel: any Channel) -> EventLoopFuture<SocketAddress> {
        guard let provider = channel as? any SocketOptionProvider, let local = channel.localAddress else {
            return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        switch local {
        case .v4:
            let future: EventLoopFuture<sockaddr_in> = provider.unsafeGetSocketOption(
                level: NIOBSDSocket.OptionLevel(rawValue: CInt(SOL_IP)), name: optionName)
            return future.map { SocketAddress($0, host: "") }
        case .v6:
            let future: EventLoopFuture<sockaddr_in6> = provider.unsafeGetSocketOption(
                level: NIOBSDSocket.OptionLevel(rawValue: CInt(SOL_IPV6)), name: optionName)
            return future.map { SocketAddress($0, host: "") }
        case .unixDomainSocket:
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
    }
}
