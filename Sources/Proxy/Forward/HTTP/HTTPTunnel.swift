import HTTP1
import NIOCore

/// From HTTP to a byte relay: after a 101 or a 2xx to CONNECT from the upstream, or for a CONNECT to the
/// explicit proxy. Bytes the client sent after its request are the first bytes of the tunnel.
extension HTTPForwardHandler {
    /// Both connections become a byte relay; the pooled upstream connection leaves the pool for good.
    func startTunnel(upstream: UpstreamHTTPHandler) {
        guard let context, let upstreamChannel = upstream.context?.channel else { return closeConnection() }
        machine.tunnel()
        let downstreamRelay = RelayHandler(side: .downstream, connection: connection, pending: input)
        let upstreamRelay = RelayHandler(side: .upstream, connection: connection)
        input = nil
        do {
            try upstream.switchToRelay(upstreamRelay)
            connection.adoptUpstream()
            try context.pipeline.syncOperations.addHandler(downstreamRelay, position: .after(self))
        } catch {
            upstreamChannel.close(promise: nil)
            return closeConnection()
        }
        context.flush()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        RelayHandler.pair(downstreamRelay, upstreamRelay)
    }

    /// CONNECT to the explicit proxy: Mesher connects, answers 200, then relays bytes. A failure is answered
    /// like any request Mesher cannot forward.
    func connectTunnel(_ exchange: HTTPExchange) {
        guard let context else { return }
        machine.requestEnd()
        let relay = RelayHandler(side: .downstream, connection: connection)
        TCPForward(connection: connection, connector: forward.connector, loopGuard: forward.environment.loopGuard)
            .start(
                to: exchange.route, relay,
                beforePairing: {
                    self.machine.tunnel()
                    self.exchange = nil
                    relay.pending = self.input
                    self.input = nil
                    do {
                        try context.pipeline.syncOperations.addHandler(relay, position: .after(self))
                    } catch {
                        return context.close(promise: nil)
                    }
                    self.write(ByteBuffer(staticString: "HTTP/1.1 200 Connection Established\r\n\r\n"))
                    context.flush()
                    self.logExchange(exchange, status: 200, error: nil)
                    context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                },
                onFailure: { outcome in
                    self.answer(exchange, MesherAnswer(connectFailure: outcome))
                })
    }
}
