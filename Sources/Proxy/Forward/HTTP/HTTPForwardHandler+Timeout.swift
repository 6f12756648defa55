import NIOCore

extension HTTPForwardHandler {
    /// The current request must have its response head by `deadline`.
    func armRequestTimer(at deadline: NIODeadline) {
        guard let context, requestTimer == nil || deadline < requestTimerDue else { return }
        requestTimer?.cancel()
        requestTimerDue = deadline
        requestTimer = try? context.eventLoop.assumeIsolated().scheduleCallback(
            at: deadline, handler: RequestDeadlineCheck(self))
    }

    /// The timer fired: the request under way times out if its deadline passed (504 `request-timeout`, the
    /// instance charged with a failure), else the timer waits for its deadline; with none, it stops.
    func requestTimerFired() {
        requestTimer = nil
        requestTimerDue = .distantFuture
        guard let exchange, let deadline = exchange.deadline, exchange.responseStatus == nil, exchange.answer == nil
        else { return }
        guard NIODeadline.now() >= deadline else { return armRequestTimer(at: deadline) }
        exchange.deadline = nil
        chargeFailure(exchange)
        answer(exchange, .requestTimeout)
    }
}

/// Hands the request timer's callback to the handler (whose own callback is the head timer's).
private struct RequestDeadlineCheck: NIOScheduledCallbackHandler {
    weak var handler: HTTPForwardHandler?

    init(_ handler: HTTPForwardHandler) { self.handler = handler }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        handler?.requestTimerFired()
    }
}
