import NIOCore
import Sniff

/// What the Detect stage hands on: an accepted connection and the protocol its first bytes showed.
struct Detected {
    let accepted: Accepted
    let protocolSeen: SniffResult
}

/// The decisions of the Detect stage, without a channel: inputs are events (the Accept stage's verdict, bytes,
/// end of input, the end of the sniff window), outputs are actions for `DetectHandler` to carry out.
///
/// Server-first protocols need no configuration: a client that stays silent for the sniff window is relayed
/// as TCP, and well-known server-first ports are not sniffed at all. A destination whose client stayed silent
/// is remembered (`ServerFirstCache`), so that the next connections to it skip the window. A client that
/// speaks at once is decided on its first bytes, so the window adds no latency to it.
struct SniffStateMachine {
    /// Beyond a full TLS record (the largest thing worth waiting for) the answer is "opaque".
    static let maxSniffBytes = 16384 + 2048 + 5

    enum State {
        /// Waiting for the Accept stage (the original-destination lookup).
        case accepting
        case sniffing(Accepted)
        /// Decided; the next stage is being installed, or the connection refused: still this stage's to end.
        case handingOff
        /// The next stage has the connection.
        case done
    }

    enum Action {
        case wait
        /// Arm the sniff window.
        case startWindow
        case refuse(ConnectionOutcome)
        /// Install the next stage and pass it `buffered` (and the end of input, if it came). `learnedServerFirst`:
        /// the client stayed silent for the whole window, so the destination speaks first.
        case handOff(Detected, buffered: ByteBuffer?, inputClosed: Bool, learnedServerFirst: Bool)
    }

    private(set) var state = State.accepting
    private var buffered: ByteBuffer?
    private var inputClosed = false
    /// HTTP/2 to this destination is taken apart whatever its first request names: decided on the preface.
    private var http2Known = false
    private let opaquePorts: Set<UInt16>

    init(opaquePorts: Set<UInt16>) {
        self.opaquePorts = opaquePorts
    }

    /// The Accept stage's verdict; `knownServerFirst`: the destination was seen to speak first lately;
    /// `http2Known`: HTTP/2 to it goes to L7 without its first request's authority.
    mutating func accepted(_ verdict: AcceptVerdict, knownServerFirst: Bool, http2Known: Bool = false) -> Action {
        self.http2Known = http2Known
        guard case .accepting = state else { return .wait }
        switch verdict {
        case .refused(let reason, _):
            state = .handingOff
            return .refuse(reason)
        case .accepted(let accepted):
            if knownServerFirst || accepted.original?.port.map({ opaquePorts.contains(UInt16($0)) }) == true {
                return handOff(accepted, .opaque)
            }
            state = .sniffing(accepted)
            // Bytes may have come while the lookup ran: they may decide at once.
            let action = evaluate(final: inputClosed)
            if case .wait = action { return .startWindow }
            return action
        }
    }

    mutating func read(_ bytes: ByteBuffer) -> Action {
        var bytes = bytes
        buffered.setOrWriteBuffer(&bytes)
        return evaluate(final: false)
    }

    /// The client said all it will say: decide on what is here.
    mutating func endOfInput() -> Action {
        inputClosed = true
        return evaluate(final: true)
    }

    /// The window ended with the client silent or mid-way: relay as TCP.
    mutating func windowExpired() -> Action {
        guard case .sniffing(let accepted) = state else { return .wait }
        let silent = buffered == nil && !inputClosed
        return handOff(accepted, decision(final: true), learnedServerFirst: silent)
    }

    /// The next stage took the connection.
    mutating func handedOff() {
        state = .done
    }

    /// The channel closed; true when this stage still had the connection (then it ends it).
    mutating func closed() -> Bool {
        if case .done = state { return false }
        state = .done
        return true
    }

    private mutating func evaluate(final: Bool) -> Action {
        guard case .sniffing(let accepted) = state, buffered != nil || final else { return .wait }
        let result = decision(final: final)
        return result == .needMore ? .wait : handOff(accepted, result)
    }

    private func decision(final: Bool) -> SniffResult {
        guard let buffered else { return .opaque }
        if final || buffered.readableBytes >= Self.maxSniffBytes { return ProtocolSniffer.classifyFinal(buffered) }
        let result = ProtocolSniffer.classify(buffered)
        if result == .needMore && http2Known && ProtocolSniffer.hasHTTP2Preface(buffered) {
            return .http2(authority: nil)
        }
        return result
    }

    private mutating func handOff(_ accepted: Accepted, _ result: SniffResult, learnedServerFirst: Bool = false)
        -> Action
    {
        state = .handingOff
        let bytes = buffered
        buffered = nil
        return .handOff(
            Detected(accepted: accepted, protocolSeen: result), buffered: bytes, inputClosed: inputClosed,
            learnedServerFirst: learnedServerFirst)
    }
}
