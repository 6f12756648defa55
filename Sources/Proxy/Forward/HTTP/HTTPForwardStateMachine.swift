/// The life of one downstream HTTP/1 connection, request after request, without a channel: `HTTPForwardHandler`
/// feeds it events (a head parsed, a request or response ended, the client's end of input, a drain) and
/// carries out what it answers. Like `HTTPServerPipelineHandler.ConnectionState` in SwiftNIO; retries and
/// other policies are to become states here.
struct HTTPForwardStateMachine {
    enum State: Equatable {
        /// Between requests: nothing in flight (a head may be arriving).
        case idle
        /// A request head was handled; its body is arriving.
        case requestBody
        /// The request is complete, its response is not: what arrives meanwhile waits unparsed.
        case awaitingResponse
        /// A last response is going out, then the connection closes; input is ignored.
        case closing
        /// Handed to the byte relay (upgrade, CONNECT).
        case tunnel
    }

    /// The client's side of the connection.
    enum ClientInput: Equatable {
        case open
        /// The client half-closed: close once what it sent is answered.
        case closed
    }

    /// Whether a drain asked the connection to stop taking requests.
    enum Drain: Equatable {
        case running
        /// The response under way says `Connection: close`, and the connection closes after it.
        case quiescing
    }

    enum Action: Equatable {
        case none
        /// Parse what is buffered (a next request), then read on.
        case parseNext
        /// Close once everything written so far has gone out.
        case close
        /// Close because of the drain (nothing was in flight).
        case closeDrained
        /// A drain began just after a response that kept the connection open, or such a response ended during
        /// the drain: the client may be sending its next request right now, and a close would fail it. Parse
        /// what is here; a request that comes within the drain grace is answered with `Connection: close`,
        /// else the connection closes at the grace's end (`graceEnded`).
        case awaitLastRequest
    }

    private(set) var state = State.idle
    private(set) var clientInput = ClientInput.open
    private(set) var drain = Drain.running

    /// The request's body is over (or it had none): a response may keep the connection.
    var requestEnded: Bool { state != .requestBody }

    /// Whether bytes from the client are still wanted.
    var acceptsInput: Bool { state != .closing && state != .tunnel }

    // MARK: - Requests

    /// A complete request head was parsed.
    mutating func requestHead() {
        if state == .idle { state = .requestBody }
    }

    /// The request body ended (its framing said so).
    mutating func requestEnd() {
        if state == .requestBody { state = .awaitingResponse }
    }

    /// The head timer fired: true when a head was still awaited (then the request times out).
    func headTimedOut() -> Bool { state == .idle }

    /// A request Mesher refuses (malformed, too slow): a last answer, then close.
    mutating func refuse() {
        state = .closing
    }

    // MARK: - Responses

    /// Whether the response to the current request keeps the connection open: only when the client wants it
    /// (and sent more, or may still), the request is complete, the response can be delimited without closing,
    /// and no drain is under way. A response that comes before the request is complete ends the connection
    /// (the rest of the body could not be told from a next request).
    func keepsAlive(requestKeepAlive: Bool, delimited: Bool, inputPending: Bool) -> Bool {
        requestKeepAlive && requestEnded && !clientIsDone(inputPending: inputPending) && delimited
            && drain == .running
    }

    /// The response ended; `close` as `keepsAlive` said when its head went out.
    mutating func responseEnd(close: Bool) -> Action {
        if close {
            state = .closing
            return .close
        }
        state = .idle
        // Its head went out keep-alive before the drain began.
        return drain == .quiescing ? .awaitLastRequest : .parseNext
    }

    /// Switched to a byte relay.
    mutating func tunnel() {
        state = .tunnel
    }

    // MARK: - The client's input

    /// Whether to read from the client now: never while closing; a pipelined request waits for the response
    /// before it; a body is read only while it can go somewhere (`bodyWanted`).
    func shouldRead(inputPending: Bool, bodyWanted: Bool) -> Bool {
        switch state {
        case .closing: false
        case .awaitingResponse: !inputPending
        case .requestBody: bodyWanted
        case .idle, .tunnel: true
        }
    }

    /// The client half-closed.
    mutating func endOfInput() -> Action {
        clientInput = .closed
        return state == .idle || state == .requestBody ? .parseNext : .none
    }

    /// The client half-closed and every byte it sent is read: nothing more to answer after this.
    func clientIsDone(inputPending: Bool) -> Bool {
        clientInput == .closed && !inputPending
    }

    /// The connection closed.
    mutating func closed() {
        state = .closing
    }

    // MARK: - Drain

    /// A drain began. Idle with nothing pipelined: close now, unless a response ended within the drain grace
    /// (`recentlyAnswered`: the client's next request may be on its way). A request in flight: its response
    /// says `Connection: close` and the connection closes after it. A tunnel is the byte relay's.
    mutating func quiesce(inputPending: Bool, recentlyAnswered: Bool) -> Action {
        guard drain == .running else { return .none }
        drain = .quiescing
        switch state {
        case .idle where !inputPending && recentlyAnswered:
            return .awaitLastRequest
        case .idle where !inputPending:
            state = .closing
            return .closeDrained
        case .idle, .requestBody, .awaitingResponse, .closing, .tunnel:
            return .none
        }
    }

    /// The drain grace after `awaitLastRequest` is over: close unless a request has begun meanwhile.
    mutating func graceEnded(inputPending: Bool) -> Action {
        guard drain == .quiescing, state == .idle, !inputPending else { return .none }
        state = .closing
        return .closeDrained
    }
}
