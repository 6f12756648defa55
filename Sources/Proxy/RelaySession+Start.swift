import NIOCore
import NIOPosix

extension RelaySession {
    /// Finds where the app was going; refuses (resets) the connection when that is nowhere or Mesher itself.
    func resolveDestination(_ then: @escaping (SocketAddress) -> Void) {
        OriginalDestination.of(downstream).assumeIsolated().whenComplete { result in
            guard case .success(let destination) = result else {
                return self.refuse(.noOriginalDestination)
            }
            self.destination = destination
            if let reason = self.environment.settings.refusal(for: destination, local: self.downstream.localAddress) {
                return self.refuse(reason)
            }
            // Defence in depth behind the capture rules: inbound connections go to this host's own
            // addresses only, never on to another network or to loopback.
            if self.direction == .inbound && !self.environment.settings.localAddresses.isLocalNonLoopback(destination) {
                return self.refuse(.nonLocalDestination)
            }
            then(destination)
        }
    }

    /// Connects where `route` leads and pairs the upstream with `downstreamHandler` to relay bytes.
    /// `beforePairing` runs once connected (CONNECT answers 200 there); `onFailure` replaces the reset.
    func connect(
        to route: UpstreamRoute, _ downstreamHandler: RelayHandler, beforePairing: (() -> Void)? = nil,
        onFailure: ((RelayOutcome) -> Void)? = nil
    ) {
        connectStarted()
        let failed = { (outcome: RelayOutcome) in
            self.fail(outcome)
            self.connectFinished(upstreamOpen: false)
            if let onFailure { onFailure(outcome) } else { RelayHandler.reset(self.downstream) }
        }
        let connect = { (address: SocketAddress) in
            if self.destination == nil { self.destination = address }
            // Never one of Mesher's own ports (CONNECT to the admin port through the explicit proxy, say).
            if let refusal = self.environment.settings.refusal(for: address, local: nil) { return failed(refusal) }
            let upstreamHandler = RelayHandler(side: .upstream, session: self)
            UpstreamConnector(settings: self.environment.settings)
                .connect(to: address, on: self.downstream.eventLoop, handler: upstreamHandler)
                .assumeIsolated().whenComplete { result in
                    switch result {
                    case .success(let upstream):
                        self.connectFinished(upstreamOpen: true)
                        guard self.downstream.isActive else { return upstream.close(promise: nil) }
                        beforePairing?()
                        RelayHandler.pair(downstreamHandler, upstreamHandler)
                    case .failure(let error):
                        failed(Self.outcome(of: error))
                    }
                }
        }
        // Addresses are known except for host names (explicit proxy), resolved off the event loop.
        if let address = route.address { return connect(address) }
        route.resolveAddress(on: downstream.eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let address): connect(address)
            case .failure: failed(.connectFailed)
            }
        }
    }

    func refuse(_ reason: RelayOutcome) {
        fail(reason)
        RelayHandler.reset(downstream)
    }

    static func outcome(of connectError: any Error) -> RelayOutcome {
        switch connectError {
        case ChannelError.connectTimeout: .connectTimeout
        case let error as IOError where error.errnoCode == ECONNREFUSED: .connectRefused
        case let error as NIOConnectionError:
            error.connectionErrors.contains { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }
                ? .connectRefused : .connectFailed
        default: .connectFailed
        }
    }
}

extension RelaySettings {
    /// A destination that is one of Mesher's own ports: not redirected at all, or a loop back into Mesher.
    func refusal(for destination: SocketAddress, local: SocketAddress?) -> RelayOutcome? {
        guard let port = destination.port, ownPorts.contains(port) else { return nil }
        if let local, destination == local { return .noOriginalDestination }
        guard let bytes = destination.ipBytes else { return nil }
        return LocalAddressTable.isLoopback(bytes) || localAddresses.contains(bytes) ? .loop : nil
    }
}
