import NIOCore

/// Detect's guess that a destination speaks first, checked by the byte relay with the first bytes that cross:
/// a client that was merely slow for the sniff window must not teach it (its later connections would skip
/// L7), and a destination that stopped speaking first is forgotten at its first client-first connection.
struct ServerFirstCheck {
    enum Guess {
        /// The client stayed silent through the window: learnt if the server then speaks first.
        case silentClient
        /// The destination was known and not sniffed: forgotten if the client speaks first.
        case known
    }

    let destination: SocketAddress
    let guess: Guess
    /// Tells every event loop's cache; `true` learns, `false` forgets.
    let update: (SocketAddress, Bool) -> Void

    /// The relay's first bytes, from the server or from the client.
    func firstBytes(fromServer: Bool) {
        switch (guess, fromServer) {
        case (.silentClient, true): update(destination, true)
        case (.known, false): update(destination, false)
        case (.silentClient, false), (.known, true): break
        }
    }
}
