import Calf
import CalfFlows
import FoundationEssentials

/// Why `reliableRemoteJob` gave up.
public enum RemoteJobError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The service answered the request that creates the job with `status`.
    case notCreated(status: Int, body: String)
    /// The job id could not be read from the creation's answer.
    case noJobID(String)
    /// No callback came and the job was still not completed after polling for `seconds`.
    case timedOut(seconds: Double)
    /// The service answered the request for the finished job with `status`.
    case notFetched(status: Int, body: String)

    /// One line.
    public var description: String {
        switch self {
        case .notCreated(let status, let body): "the service answered \(status) to the job's creation: \(body.prefix(200))"
        case .noJobID(let why): "no job id in the creation's answer: \(why)"
        case .timedOut(let seconds): "no callback, and the job was still not completed after \(seconds) s of polling"
        case .notFetched(let status, let body): "the service answered \(status) for the finished job: \(body.prefix(200))"
        }
    }
}

extension FlowContext {
    /// Flowmetal's reliable remote job: creates a job on another service
    /// with a callback URL (one `Idempotency-Key` on every attempt of the
    /// creation), waits up to `callbackTimeout` for the callback, else polls
    /// `isCompleted` with `pollSleep` between polls, where a callback
    /// arriving during polling ends the polling at once, failing with
    /// `RemoteJobError.timedOut` after `pollTimeout`; then fetches the job.
    /// The callback stays open for the whole bound, so a late one still counts.
    ///
    /// - Parameters:
    ///   - makeRequest: the creation request, given the callback URL.
    ///   - jobID: the job's id, read from the creation's answer.
    ///   - getJob: the request that fetches the finished job.
    ///   - isCompleted: one poll: whether the job is done (nil: no polling,
    ///     a missing callback fails the job after `callbackTimeout`).
    ///   - retry: how each request is retried (nil: `HTTPCall.defaultPolicy`).
    /// - Returns: the finished job's answer.
    public func reliableRemoteJob(
        start makeRequest: (String) throws -> HTTPCall,
        jobID: (HTTPCallResponse) throws -> String,
        getJob: (String) -> HTTPCall,
        isCompleted: ((String) async throws -> Bool)?,
        callbackTimeout: Duration = .seconds(3600),
        pollSleep: Backoff = Backoff(initial: .seconds(5), maximum: .seconds(300), multiplier: 1.5),
        pollTimeout: Duration = .seconds(24 * 3600),
        retry: RetryPolicy? = nil
    ) async throws -> HTTPCallResponse {
        let callback = try await self.callback(expiresIn: callbackTimeout + pollTimeout + .seconds(60))
        let created = try await http(try makeRequest(callback.url), retry: retry)
        guard created.succeeded else { throw RemoteJobError.notCreated(status: created.status, body: created.text ?? "") }
        let id: String
        do { id = try jobID(created) } catch { throw RemoteJobError.noJobID("\(error)") }
        if try await callback.value(timeout: callbackTimeout) == nil {
            guard let isCompleted else { throw RemoteJobError.timedOut(seconds: 0) }
            let deadline = now + pollTimeout
            var polls = 0
            while try await !isCompleted(id) {
                guard now < deadline else { throw RemoteJobError.timedOut(seconds: Double(pollTimeout.components.seconds)) }
                polls += 1
                // Sleeps until the next poll, unless the callback comes first.
                let pause = min(pollSleep.delay(attempt: polls), deadline - now)
                if try await callback.value(timeout: pause) != nil { break }
            }
        }
        let job = try await http(getJob(id), retry: retry)
        guard job.succeeded else { throw RemoteJobError.notFetched(status: job.status, body: job.text ?? "") }
        return job
    }
}
