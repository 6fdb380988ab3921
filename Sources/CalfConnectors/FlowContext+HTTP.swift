import Calf
import CalfFlows

extension FlowContext {
    /// Sends `request` through the node's request connector as a step: sent
    /// once this turn commits, with an `Idempotency-Key` that is the same on
    /// every attempt, retried by `retry` (nil: the request's policy, else
    /// `HTTPCall.defaultPolicy`: transport errors, timeouts, 408, 429, 5xx),
    /// each attempt bounded by `timeout`. The response (any status the
    /// policy does not retry) is journaled and returned; a rebuild reads it
    /// and sends nothing.
    /// - Throws: the request's `EffectFailure` once its attempts are spent
    ///   (of kind "status" with the last status, "transport", "timeout",
    ///   "response too large", "host not allowed"); `FlowError.cancelled`.
    public func http(
        _ request: HTTPCall, retry: RetryPolicy? = nil, timeout: Duration? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) async throws -> HTTPCallResponse {
        var request = request
        if let timeout { request.attemptTimeout = timeout }
        return try await perform(request, retry: retry, what: "\(request.method) \(request.url)", file: file, line: line)
    }
}
