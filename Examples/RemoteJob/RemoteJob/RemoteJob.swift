import Calf
import CalfConnectors
import CalfFlows

/// Flowmetal's `reliable_remote_job` as a durable state machine: for each
/// host it is asked to reboot, it creates a job on a remote job service
/// (`POST {service}/api/v3/host/{host}` with a callback URL, an
/// `Idempotency-Key` that is the same on every attempt, retried on
/// transport errors, 429 and 5xx), waits up to `callbackTimeoutSeconds`
/// for the service's callback, then polls the job's status with backoff
/// (a callback arriving meanwhile ends the polling) until it is not
/// PENDING or `pollTimeoutSeconds` have passed, and finally fetches the
/// job, whose JSON is the outcome. Every step is journaled: a node killed
/// at any moment goes on where it was, and creates no job twice.
///
/// `{"reboot":{"host":"h1"}}` starts (once per host) and answers the job's
/// report; `{"status":{"host":"h1"}}` and `{"list":{}}` answer reports.
public struct RemoteJob: DurableBehavior {
    /// The job service's base URL (`http://127.0.0.1:8089`).
    public var service: String
    /// How long to wait for the callback before polling.
    public var callbackTimeoutSeconds: Double = 5
    /// The first wait between polls (growing by half each time, to at most 5 s).
    public var pollSeconds: Double = 0.2
    /// How long polling may go on before the job fails with a timeout.
    public var pollTimeoutSeconds: Double = 30

    /// A machine for the service at `service`.
    public init(service: String, callbackTimeoutSeconds: Double = 5, pollSeconds: Double = 0.2, pollTimeoutSeconds: Double = 30) {
        self.service = service
        self.callbackTimeoutSeconds = callbackTimeoutSeconds
        self.pollSeconds = pollSeconds
        self.pollTimeoutSeconds = pollTimeoutSeconds
    }

    private enum CodingKeys: String, CodingKey { case service, callbackTimeoutSeconds, pollSeconds, pollTimeoutSeconds }

    /// Reads a tree file's config: `service` is required, the rest have their defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        service = try container.decode(String.self, forKey: .service)
        callbackTimeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .callbackTimeoutSeconds) ?? 5
        pollSeconds = try container.decodeIfPresent(Double.self, forKey: .pollSeconds) ?? 0.2
        pollTimeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .pollTimeoutSeconds) ?? 30
    }

    /// The requests it makes.
    public static var effects: [any DurableEffect.Type] { [HTTPCall.self] }

    /// What it takes.
    public enum Message: Codable, Sendable, EffectCompletionMessage, CallbackMessage {
        /// Reboots `host` (once: asked again, it answers how far it is).
        case reboot(host: String)
        /// Answers the report of `host`'s job.
        case status(host: String)
        /// Answers every job's report.
        case list
        /// The callback did not come in time (a timer).
        case callbackTimedOut(host: String)
        /// Time for the next poll (a timer).
        case pollDue(host: String)
        /// A request's outcome.
        case effectCompleted(EffectCompletion)
        /// The service called back.
        case callbackArrived(CallbackArrival)
    }

    /// Where a job is.
    public enum Phase: String, Codable, Sendable {
        /// Its creation request is under way.
        case creating
        /// Created; waiting for the callback.
        case awaitingCallback
        /// The callback did not come: polling its status.
        case polling
        /// Done (by callback or poll): fetching the job.
        case fetching
        /// The job's JSON is the outcome.
        case completed
        /// It failed (`error` says why).
        case failed
    }

    /// One host's job.
    public struct Job: Codable, Sendable {
        /// The host.
        public var host: String
        /// Where it is.
        public var phase: Phase
        /// The service's id for it, once created.
        public var jobId: String?
        /// The callback URL handed to the service.
        public var callback: DurableCallback
        /// The request under way (its effect id).
        public var request: UInt64?
        /// The timer armed (callback timeout or next poll).
        public var timer: DurableTimerRef?
        /// Polls made.
        public var polls = 0
        /// When polling began.
        public var pollingSince: WallTime?
        /// The callback came (maybe before the creation's answer).
        public var calledBack = false
        /// The job's JSON, once completed.
        public var output: String?
        /// Why it failed.
        public var error: String?
    }

    /// Jobs by host, and which job each request and callback belongs to.
    public struct State: Codable, Sendable {
        /// Jobs by host.
        public var jobs: [String: Job] = [:]
        /// Hosts by request (effect id).
        public var requests: [String: String] = [:]
        /// Hosts by callback id.
        public var callbacks: [String: String] = [:]
    }

    /// What a report says.
    public struct Report: Codable, Sendable {
        /// The host.
        public var host: String
        /// Where its job is.
        public var phase: Phase
        /// The service's job id.
        public var jobId: String?
        /// Polls made.
        public var polls: Int
        /// Whether the callback came.
        public var calledBack: Bool
        /// The job's JSON, once completed.
        public var output: String?
        /// Why it failed.
        public var error: String?
    }

    /// No jobs.
    public func initialState() -> State { State() }

    /// Moves a job along.
    public func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .reboot(let host):
            if state.jobs[host] == nil { try create(host, state: &state, context: &context) }
            context.reply(Self.report(state.jobs[host]))
        case .status(let host):
            context.reply(state.jobs[host].map { Self.report($0) })
        case .list:
            context.reply(state.jobs.values.sorted { $0.host < $1.host }.map { Self.report($0) })
        case .callbackTimedOut(let host):
            guard var job = state.jobs[host], job.phase == .awaitingCallback else { return }
            job.timer = nil
            job.phase = .polling
            job.pollingSince = context.now
            state.jobs[host] = job
            try request(.get("\(service)/api/v3/job/\(job.jobId ?? "")/status"), for: host, state: &state, context: &context)
        case .pollDue(let host):
            guard var job = state.jobs[host], job.phase == .polling else { return }
            job.timer = nil
            state.jobs[host] = job
            try request(.get("\(service)/api/v3/job/\(job.jobId ?? "")/status"), for: host, state: &state, context: &context)
        case .callbackArrived(let arrival):
            guard let host = state.callbacks[String(arrival.callback)], var job = state.jobs[host] else { return }
            job.calledBack = true
            if job.jobId == nil, let body = try? arrival.json(as: [String: String].self) { job.jobId = body["job_id"] }
            state.jobs[host] = job
            // Waiting or polling: the callback ends it (a poll under way is cancelled).
            if job.phase == .awaitingCallback || job.phase == .polling { try fetch(host, state: &state, context: &context) }
        case .effectCompleted(let completion):
            guard let host = state.requests.removeValue(forKey: String(completion.effect.id)),
                  var job = state.jobs[host], job.request == completion.effect.id else { return }
            job.request = nil
            state.jobs[host] = job
            try answered(completion, host: host, state: &state, context: &context)
        }
    }

    /// The answer to `host`'s request under way.
    private func answered(_ completion: EffectCompletion, host: String, state: inout State, context: inout DurableContext<Message>) throws {
        guard var job = state.jobs[host] else { return }
        let response: HTTPCallResponse
        switch completion.result(as: HTTPCallResponse.self) {
        case .success(let value) where value.succeeded: response = value
        case .success(let value): return fail(host, "\(job.phase.rawValue): the service answered \(value.status) \(value.text ?? "")", state: &state)
        case .failure(let failure): return fail(host, "\(job.phase.rawValue): \(failure)", state: &state)
        }
        switch job.phase {
        case .creating:
            guard let created = try? response.json(as: [String: String].self), let id = created["job_id"] else {
                return fail(host, "creating: no job_id in \(response.text ?? "the answer")", state: &state)
            }
            job.jobId = id
            if job.calledBack {
                state.jobs[host] = job
                return try fetch(host, state: &state, context: &context)
            }
            job.phase = .awaitingCallback
            job.timer = context.sendAfter(.callbackTimedOut(host: host), after: Self.duration(callbackTimeoutSeconds))
            state.jobs[host] = job
        case .polling:
            let status = (try? response.json(as: [String: String].self))?["status"]
            guard status == "PENDING" else { return try fetch(host, state: &state, context: &context) }
            if let since = job.pollingSince, context.now - since >= Self.duration(pollTimeoutSeconds) {
                return fail(host, "timeout: the job was still PENDING after \(pollTimeoutSeconds) s of polling", state: &state)
            }
            job.polls += 1
            let wait = min(pollSeconds * pow15(job.polls - 1), max(pollSeconds, 5))
            job.timer = context.sendAfter(.pollDue(host: host), after: Self.duration(wait))
            state.jobs[host] = job
        case .fetching:
            job.phase = .completed
            job.output = response.text
            state.jobs[host] = job
        case .awaitingCallback, .completed, .failed:
            break
        }
    }

    private func create(_ host: String, state: inout State, context: inout DurableContext<Message>) throws {
        // Good for as long as the job may take: the wait, then the polling.
        let callback = try context.callback(expiresIn: Self.duration(callbackTimeoutSeconds + pollTimeoutSeconds + 60))
        state.jobs[host] = Job(host: host, phase: .creating, callback: callback)
        state.callbacks[String(callback.id)] = host
        let body = CreateJob(stages: ["drain", "reboot", "undrain"], callbacks: [callback.url])
        try request(try .post("\(service)/api/v3/host/\(host)", json: body), for: host, state: &state, context: &context)
    }

    private func fetch(_ host: String, state: inout State, context: inout DurableContext<Message>) throws {
        guard var job = state.jobs[host] else { return }
        if let timer = job.timer { context.cancelTimer(timer) }
        if let request = job.request {
            context.cancelEffect(EffectRef(id: request))
            state.requests[String(request)] = nil
        }
        job.timer = nil
        job.request = nil
        job.phase = .fetching
        state.jobs[host] = job
        try request(.get("\(service)/api/v3/job/\(job.jobId ?? "")"), for: host, state: &state, context: &context)
    }

    private func request(_ call: HTTPCall, for host: String, state: inout State, context: inout DurableContext<Message>) throws {
        // Retried as the reboot flow retries its requests: a job service is often busy for a moment (the
        // default's five attempts gave up on one of the crash test's 40 hosts about one run in four).
        var call = call
        if call.policy == nil { call.policy = Reboot.requests }
        let effect = try context.perform(call)
        state.jobs[host]?.request = effect.id
        state.requests[String(effect.id)] = host
    }

    private func fail(_ host: String, _ why: String, state: inout State) {
        state.jobs[host]?.phase = .failed
        state.jobs[host]?.error = why
    }

    private static func report(_ job: Job?) -> Report? {
        job.map { Report(host: $0.host, phase: $0.phase, jobId: $0.jobId, polls: $0.polls, calledBack: $0.calledBack, output: $0.output, error: $0.error) }
    }

    private static func report(_ job: Job) -> Report {
        Report(host: job.host, phase: job.phase, jobId: job.jobId, polls: job.polls, calledBack: job.calledBack, output: job.output, error: job.error)
    }

    private static func duration(_ seconds: Double) -> Duration {
        .milliseconds(Int64(max(0, min(seconds, 1e9)) * 1000))
    }
}

/// 1.5 to the power `n` (n ≥ 0, at most 20 steps).
private func pow15(_ n: Int) -> Double {
    var value = 1.0
    for _ in 0..<max(0, min(n, 20)) { value *= 1.5 }
    return value
}

/// The body of a job's creation.
struct CreateJob: Codable {
    var stages: [String]
    var callbacks: [String]
}

/// The behaviors of this example, for `CalfMain.run`.
public enum RemoteJobExample {
    /// `RemoteJob`.
    public static let registry = BehaviorRegistry(durable: [RemoteJob.self, FlowProcess<Reboot>.self], transient: [])
}
